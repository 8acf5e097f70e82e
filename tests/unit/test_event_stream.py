"""The model's event stream read as bytes: `data:` payloads whatever the network's chunking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import openai
import pytest

from agents import llm
from agents.llm import event_payloads

BODY = b': keep-alive\r\ndata: {"a":1}\r\n\r\nevent: x\ndata: {"b":"\xc3\xa9"}\n\ndata: [DONE]'


async def payloads(chunks: list[bytes]) -> list[bytes]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    response = httpx2.Response(200, content=body())
    return [payload async for payload in event_payloads(response)]


async def test_payloads_are_the_same_however_the_body_is_cut() -> None:
    whole = await payloads([BODY])
    assert whole == [b'{"a":1}', b'{"b":"\xc3\xa9"}', b"[DONE]"]
    for size in (1, 2, 3, 7, 16):  # lines, CRLFs and a two-byte character split across reads
        cut = [BODY[i : i + size] for i in range(0, len(BODY), size)]
        assert await payloads(cut) == whole


async def test_a_stream_left_open_after_done_ends_the_call_anyway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The body's end is read after `[DONE]` to keep the connection, but only for a moment."""
    monkeypatch.setattr(llm, "DRAIN_SECONDS", 0.05)

    async def never_ending() -> AsyncIterator[bytes]:
        yield b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
        await asyncio.Event().wait()

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=never_ending())

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    client = openai.AsyncOpenAI(base_url="http://model.test/v1", api_key="x", http_client=http)
    model = llm.OpenAIChatModel(client, "m")
    async with asyncio.timeout(5):
        parts = [p async for p in model.stream([{"role": "user", "content": "hi"}])]
    assert parts == ["hi"]
    await client.close()
