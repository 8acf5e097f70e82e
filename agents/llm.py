"""Streaming chat completions from any OpenAI-compatible endpoint.

The SDK's typed chunk objects cost far more per token than the rest of the hub together, so the
stream is read raw through `with_streaming_response` (keeping the SDK's auth, retries and error
types) and each `data:` line is parsed with orjson.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2  # the transport the openai SDK is built on
import openai
import orjson


@dataclass(slots=True)
class ToolCallFragment:
    """A piece of a streamed tool call; pieces with the same `index` belong together."""

    index: int
    call_id: str | None
    name: str | None
    arguments: str


class LLMError(Exception):
    """The model could not be reached or its stream broke; the message is safe to show."""


class ChatModel:
    def __init__(self, client: openai.AsyncOpenAI, model: str) -> None:
        self._client = client
        self._model = model

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[str | ToolCallFragment]:
        """Yield text deltas as `str` and tool-call pieces; raise `LLMError` on any failure."""
        extra: dict[str, Any] = {"tools": tools} if tools else {}
        try:
            async with self._client.chat.completions.with_streaming_response.create(
                model=self._model,
                messages=messages,  # type: ignore[arg-type]  # plain dicts, built by us
                stream=True,
                **extra,
            ) as response:
                async for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    for item in _deltas(orjson.loads(payload)):
                        yield item
        except openai.APIStatusError as exc:
            raise LLMError(f"LLM endpoint answered HTTP {exc.status_code}: {exc.message}") from exc
        except (openai.APIError, httpx2.HTTPError) as exc:
            raise LLMError(f"LLM stream failed: {type(exc).__name__}: {exc}") from exc
        except orjson.JSONDecodeError as exc:
            raise LLMError(f"LLM sent a malformed stream chunk: {exc}") from exc
        raise LLMError("LLM stream ended before [DONE]")


def _deltas(chunk: dict[str, Any]) -> list[str | ToolCallFragment]:
    if "error" in chunk:
        raise LLMError(f"LLM reported an error mid-stream: {chunk['error']}")
    out: list[str | ToolCallFragment] = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if content := delta.get("content"):
            out.append(content)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            out.append(
                ToolCallFragment(
                    index=call.get("index", 0),
                    call_id=call.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                )
            )
    return out
