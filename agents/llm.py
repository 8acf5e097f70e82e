"""Streaming chat completions from any OpenAI-compatible endpoint.

The SDK stays the transport (base URL, auth, retries, error types), but neither way in nor out
goes through its typed layer: its request transform walks every message of the context (~0.1 ms
each, so ~20 ms at the 200-message cap, on every model call) and its typed chunk objects cost more
per token than the rest of the hub together. The body is encoded once with orjson and posted as
bytes (`AsyncOpenAI.post`, the SDK's way to custom requests), and each `data:` line of the raw
stream is parsed with orjson.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx2  # the transport the openai SDK is built on
import openai
import orjson

from agents.usage import Usage

COMPLETIONS = "/chat/completions"
DRAIN_SECONDS = 1.0


@dataclass(slots=True)
class ToolCallFragment:
    """A piece of a streamed tool call; pieces with the same `index` belong together."""

    index: int
    call_id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A forced call's parsed arguments, and what it cost if the server said."""

    arguments: dict[str, Any]
    usage: Usage | None


# How a model call failed, for the metrics' label: never the model's own words.
LLMErrorKind = Literal[
    "unreachable",  # no connection to the endpoint
    "timeout",  # the request took longer than it may
    "http_429",  # rate limited
    "http_4xx",  # the endpoint refused the request (auth, model name, context length…)
    "http_5xx",  # the endpoint or the model behind it failed
    "stream_broken",  # the stream or the connection ended early
    "malformed",  # what came back is not what the API says it is
    "model_error",  # the body or the stream said error
    "no_call",  # a forced call came back without a usable call to the function
]


class LLMError(Exception):
    """The model could not be reached or its stream broke; the message is safe to show."""

    def __init__(self, message: str, kind: LLMErrorKind) -> None:
        super().__init__(message)
        self.kind: LLMErrorKind = kind


def http_kind(status: int) -> LLMErrorKind:
    return "http_429" if status == 429 else "http_4xx" if status < 500 else "http_5xx"


class OpenAIChatModel:
    """`agents.ports.ChatModel` over any OpenAI-compatible HTTP endpoint."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        temperature: float | None = None,
        stream_usage: bool = True,
    ) -> None:
        self._client = client
        self._model = model
        # None: the server's default; 0 makes a local model's answers repeatable.
        self._sampling: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
        # Servers that refuse `stream_options` can be asked without it (and report nothing).
        self._stream_options: dict[str, Any] = (
            {"stream_options": {"include_usage": True}} if stream_usage else {}
        )

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str | ToolCallFragment | Usage]:
        """Yield text deltas as `str`, tool-call pieces and, last, the call's `Usage` if the
        server reports it; raise `LLMError` on any failure."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "stream": True,
            **self._sampling,
            **self._stream_options,
        }
        if tools:
            body["tools"] = tools
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        try:
            response = await self._client.post(
                COMPLETIONS, cast_to=httpx2.Response, content=orjson.dumps(body), stream=True
            )
            try:
                payloads = event_payloads(response)
                async for payload in payloads:
                    if payload == b"[DONE]":
                        await _drain(payloads)
                        return
                    for item in _deltas(orjson.loads(payload)):
                        yield item
            finally:
                await response.aclose()
        except openai.APIStatusError as exc:
            raise LLMError(
                f"LLM endpoint answered HTTP {exc.status_code}: {exc.message}",
                http_kind(exc.status_code),
            ) from exc
        except openai.APIConnectionError as exc:
            if isinstance(exc, openai.APITimeoutError):
                message = f"LLM stream failed: {type(exc).__name__}: {exc}"
                raise LLMError(message, "timeout") from exc
            raise self._unreachable(exc) from exc
        except httpx2.TimeoutException as exc:  # mid-stream: the model stalled between chunks
            raise LLMError(f"LLM stream stalled: {type(exc).__name__}", "timeout") from exc
        except (openai.APIError, httpx2.HTTPError) as exc:
            message = f"LLM stream failed: {type(exc).__name__}: {exc}"
            raise LLMError(message, "stream_broken") from exc
        except orjson.JSONDecodeError as exc:
            raise LLMError(f"LLM sent a malformed stream chunk: {exc}", "malformed") from exc
        raise LLMError("LLM stream ended before [DONE]", "stream_broken")

    def _unreachable(self, exc: Exception) -> LLMError:
        return LLMError(
            f"cannot reach the LLM at {self._client.base_url} ({type(exc).__name__}: {exc}); "
            "is it running, and is AGENT_RUNTIME__LLM_PROXY_URL right? (To try the hub without "
            "a model: agent-hub serve --demo-llm)",
            "unreachable",
        )

    async def call_function(
        self,
        messages: list[dict[str, Any]],
        function: dict[str, Any],
        timeout: float,  # noqa: ASYNC109  # the SDK's per-request timeout, not a cancel scope
        max_tokens: int = 256,
    ) -> FunctionCall:
        """Make the model call `function` once (non-streaming) and return its parsed arguments.

        `timeout` is passed to the SDK for this request (per HTTP attempt; the client's own
        `max_retries` still applies). Any failure -- HTTP error, timeout, connection error, a
        reply without a call to `function`, or arguments that are not a JSON object -- raises
        `LLMError`.
        """
        name = function["name"]
        request = {
            "model": self._model,
            "messages": messages,
            "tools": [{"type": "function", "function": function}],
            "tool_choice": {"type": "function", "function": {"name": name}},
            "stream": False,
            "max_tokens": max_tokens,
            **self._sampling,
        }
        try:
            raw = await self._client.post(
                COMPLETIONS,
                cast_to=httpx2.Response,
                content=orjson.dumps(request),
                options={"timeout": timeout},
            )
            body = orjson.loads(raw.content)
        except openai.APITimeoutError as exc:
            raise LLMError(f"LLM did not answer within {timeout:g}s", "timeout") from exc
        except openai.APIStatusError as exc:
            raise LLMError(
                f"LLM endpoint answered HTTP {exc.status_code}: {exc.message}",
                http_kind(exc.status_code),
            ) from exc
        except openai.APIConnectionError as exc:
            raise self._unreachable(exc) from exc
        except (openai.APIError, httpx2.HTTPError) as exc:
            message = f"LLM request failed: {type(exc).__name__}: {exc}"
            raise LLMError(message, "stream_broken") from exc
        except orjson.JSONDecodeError as exc:
            raise LLMError(f"LLM sent a malformed response body: {exc}", "malformed") from exc
        arguments = _function_arguments(body, name)
        return FunctionCall(arguments, Usage.from_openai(body.get("usage")))


async def _drain(payloads: AsyncIterator[bytes]) -> None:
    """Read the body's end after `[DONE]`: a response closed before it is dropped from the pool
    with its connection, and the next call pays a TCP connect. Bounded, for a server that keeps
    the stream open after `[DONE]`."""
    with contextlib.suppress(TimeoutError, httpx2.HTTPError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in payloads:
                pass


async def event_payloads(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The payloads of the `data:` lines of an event stream, split as bytes: decoding every
    network chunk to text and splitting it again (`aiter_lines`) was a fifth of a token's cost."""
    rest = b""
    async for chunk in response.aiter_bytes():
        lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()
    if rest.startswith(b"data:"):
        yield rest[5:].strip()


def _deltas(chunk: dict[str, Any]) -> list[str | ToolCallFragment | Usage]:
    if "error" in chunk:
        raise LLMError(f"LLM reported an error mid-stream: {chunk['error']}", "model_error")
    out: list[str | ToolCallFragment | Usage] = []
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
    if (usage := Usage.from_openai(chunk.get("usage"))) is not None:
        out.append(usage)
    return out


def _function_arguments(body: object, name: str) -> dict[str, Any]:
    """The parsed arguments of the first call to `name` in a chat completion body."""
    if not isinstance(body, dict):
        raise LLMError("LLM response is not a JSON object", "malformed")
    if "error" in body:
        raise LLMError(f"LLM reported an error: {body['error']}", "model_error")
    seen: list[str] = []
    for choice in body.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                continue
            called = function.get("name")
            if called != name:
                seen.append(str(called))
                continue
            arguments = function.get("arguments")
            try:
                parsed = orjson.loads(arguments) if isinstance(arguments, str | bytes) else None
            except orjson.JSONDecodeError as exc:
                message = f"LLM called {name} with malformed JSON arguments: {exc}"
                raise LLMError(message, "no_call") from exc
            if not isinstance(parsed, dict):
                message = f"LLM called {name} with arguments that are not a JSON object"
                raise LLMError(message, "no_call")
            return parsed
    if seen:
        raise LLMError(f"LLM called {', '.join(seen)} instead of {name}", "no_call")
    raise LLMError(f"LLM answered without calling {name}", "no_call")
