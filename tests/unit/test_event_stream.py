"""The model's event stream read as bytes: `data:` payloads whatever the network's chunking."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2

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
