"""Counting a prompt's tokens with the model server's own tokenizer, where it offers one.

llama.cpp's server has `POST /tokenize` (`{"content"}`), llama-cpp-python's `POST
/extras/tokenize` (`{"input"}`); both answer `{"tokens": [...]}`. The first that answers is
used from then on; a server with neither (OpenAI, most proxies) is asked once, and the context
budget's estimate alone decides there. The text counted is what the chat template is built
from: each message's role and content, and the tool schemas.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson

log = logging.getLogger(__name__)

ENDPOINTS = (("/tokenize", "content"), ("/extras/tokenize", "input"))
TIMEOUT_SECONDS = 10.0


class ServerTokenizer:
    def __init__(self, llm_url: str, client: httpx.AsyncClient | None = None) -> None:
        root = llm_url.rstrip("/").removesuffix("/v1")
        self._client = client or httpx.AsyncClient(base_url=root, timeout=TIMEOUT_SECONDS)
        self._endpoint: tuple[str, str] | None = None
        self._probed = False

    async def count(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> int | None:
        """The prompt's tokens, or None when the server has no tokenizer to ask."""
        text = "\n".join(f"{m['role']}\n{m.get('content') or ''}" for m in messages)
        calls = [m["tool_calls"] for m in messages if m.get("tool_calls")]
        if calls:  # a call's arguments (a whole file, for write_file) are in the prompt too
            text += "\n" + orjson.dumps(calls).decode()
        if tools:
            text += "\n" + orjson.dumps(tools).decode()
        if self._endpoint is not None:
            try:
                return await self._tokens(self._endpoint, text)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning("the model server's tokenizer failed (%s); estimating", exc)
                return None
        if self._probed:
            return None
        self._probed = True
        for endpoint in ENDPOINTS:
            try:
                tokens = await self._tokens(endpoint, text)
            except (httpx.HTTPError, ValueError, KeyError):
                continue
            self._endpoint = endpoint
            log.info("counting prompt tokens with the model server's %s", endpoint[0])
            return tokens
        log.info("the model server offers no tokenizer; prompt sizes are estimated")
        return None

    async def _tokens(self, endpoint: tuple[str, str], text: str) -> int:
        path, field = endpoint
        reply = await self._client.post(path, json={field: text})
        reply.raise_for_status()
        return len(reply.json()["tokens"])

    async def close(self) -> None:
        await self._client.aclose()
