"""Self-tests for the scripted LLM server, driven by the real ``openai.AsyncOpenAI`` client.

Relies on ``asyncio_mode = "auto"`` from pyproject.toml (no asyncio marks) and on the
``llm_server`` (session) / ``llm`` (reset per test) fixtures from ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2  # the HTTP stack openai 3.x is built on (not the same package as httpx)
import openai
import pytest

from tests.scripted_llm import Cut, Fail, Hang, ScriptedLLM, Text, ToolCalls

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def client(llm_server: ScriptedLLM) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=llm_server.base_url, api_key="x", max_retries=0, timeout=5.0
    ) as c:
        yield c


async def test_streamed_text_is_joined(llm: ScriptedLLM, client: openai.AsyncOpenAI) -> None:
    llm.push(Text(["Hel", "lo", ", world"]))
    stream = await client.chat.completions.create(model="gpt-x", messages=MESSAGES, stream=True)
    parts: list[str] = []
    finish: list[str | None] = []
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        assert chunk.model == "gpt-x"
        parts.append(chunk.choices[0].delta.content or "")
        finish.append(chunk.choices[0].finish_reason)
    assert "".join(parts) == "Hello, world"
    assert finish == [None, None, None, None, "stop"]
    assert llm.pending == 0


async def test_raw_sse_lines_end_with_done(llm: ScriptedLLM, client: openai.AsyncOpenAI) -> None:
    llm.push(Text(["a", "b"]))
    async with client.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as response:
        lines = [line async for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    first = json.loads(lines[0].removeprefix("data: "))
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    last = json.loads(lines[-2].removeprefix("data: "))
    assert last["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }


async def test_non_streaming_text(llm: ScriptedLLM, client: openai.AsyncOpenAI) -> None:
    llm.push(Text(["Hel", "lo"]))
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello"
    assert completion.choices[0].finish_reason == "stop"


async def test_tool_call_fragments_assemble(llm: ScriptedLLM, client: openai.AsyncOpenAI) -> None:
    llm.push(
        ToolCalls(
            [
                ("call_1", "read_file", {"path": "src/a.py", "lines": [1, 20]}),
                ("call_2", "list_dir", {}),
            ],
            text_chunks=["Let me ", "look."],
        )
    )
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    text = ""
    calls: dict[int, dict[str, str]] = {}
    argument_deltas = 0
    finish: str | None = None
    async for chunk in stream:
        choice = chunk.choices[0]
        text += choice.delta.content or ""
        for tc in choice.delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            slot["id"] += tc.id or ""
            if tc.function is not None:
                slot["name"] += tc.function.name or ""
                if tc.function.arguments:
                    argument_deltas += 1
                    slot["arguments"] += tc.function.arguments
        finish = choice.finish_reason or finish
    assert text == "Let me look."
    assert finish == "tool_calls"
    assert calls[0]["id"] == "call_1"
    assert calls[0]["name"] == "read_file"
    assert json.loads(calls[0]["arguments"]) == {"path": "src/a.py", "lines": [1, 20]}
    assert calls[1] == {"id": "call_2", "name": "list_dir", "arguments": "{}"}
    assert argument_deltas == 3 + 2  # 3 pieces for call_1, 2 for "{}"


async def test_non_streaming_tool_calls(llm: ScriptedLLM, client: openai.AsyncOpenAI) -> None:
    llm.push(ToolCalls([("call_9", "grep", {"pattern": "foo"})]))
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.id == "call_9"
    assert call.type == "function"
    assert call.function.name == "grep"
    assert json.loads(call.function.arguments) == {"pattern": "foo"}


async def test_fail_and_empty_queue(llm: ScriptedLLM, client: openai.AsyncOpenAI) -> None:
    llm.push(Fail(), Fail(429, "slow down"))
    with pytest.raises(openai.InternalServerError) as server_error:
        await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert server_error.value.status_code == 500
    assert "scripted failure" in server_error.value.message
    with pytest.raises(openai.RateLimitError, match="slow down"):
        await client.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.InternalServerError, match="no scripted reply left") as empty:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert empty.value.body == {
        "message": "no scripted reply left",
        "type": "server_error",
        "param": None,
        "code": None,
    }


async def test_cut_raises_while_iterating_lines(
    llm: ScriptedLLM, client: openai.AsyncOpenAI
) -> None:
    llm.push(Cut(["par", "tial"]))
    lines: list[str] = []
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        async with client.chat.completions.with_streaming_response.create(
            model="m", messages=MESSAGES, stream=True
        ) as response:
            assert response.status_code == 200
            async for line in response.iter_lines():
                if line:
                    lines.append(line)
    contents = [
        json.loads(line.removeprefix("data: "))["choices"][0]["delta"].get("content")
        for line in lines
    ]
    assert contents == ["", "par", "tial"]  # everything before the cut arrives, no [DONE]


async def test_cut_through_sdk_stream_is_api_connection_error(
    llm: ScriptedLLM, client: openai.AsyncOpenAI
) -> None:
    llm.push(Cut(["x"]))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError) as err:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["", "x"]
    assert isinstance(err.value.__cause__, httpx2.RemoteProtocolError)


async def test_requests_are_recorded(llm: ScriptedLLM, client: openai.AsyncOpenAI) -> None:
    llm.push(Text(["one"]), Text(["two"]))
    tools: list[Any] = [
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}}
    ]
    await client.chat.completions.create(model="m1", messages=MESSAGES, tools=tools)
    second: list[Any] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "again"},
    ]
    stream = await client.chat.completions.create(model="m2", messages=second, stream=True)
    async for _ in stream:
        pass
    recorded = llm.requests
    assert [r["model"] for r in recorded] == ["m1", "m2"]
    assert recorded[0]["messages"] == MESSAGES
    assert recorded[0]["tools"] == tools
    assert "stream" not in recorded[0] or recorded[0]["stream"] is False
    assert recorded[1]["messages"] == second
    assert recorded[1]["stream"] is True


async def test_hang_release_and_cancel(llm: ScriptedLLM, client: openai.AsyncOpenAI) -> None:
    # release(): the hanging stream then finishes normally.
    llm.push(Hang(["wait"]))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    got: list[str] = []
    async for chunk in stream:
        got.append(chunk.choices[0].delta.content or "")
        if got[-1] == "wait":
            llm.release()
    assert got == ["", "wait", ""]

    # Client-side cancel: the server notices the disconnect.
    llm.push(Hang(["a"]))
    seen = asyncio.Event()

    async def consume() -> None:
        s = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for chunk in s:
            if chunk.choices[0].delta.content == "a":
                seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):  # the server thread notices the disconnect asynchronously
        if llm.disconnects:
            break
        await asyncio.sleep(0.01)
    assert llm.disconnects == 1


async def test_slow_text_delay(llm: ScriptedLLM, client: openai.AsyncOpenAI) -> None:
    llm.push(Text(["a", "b", "c"], delay=0.05))
    start = time.monotonic()
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "abc"
    assert time.monotonic() - start >= 0.15


def test_push_rejects_bare_string() -> None:
    with pytest.raises(TypeError):
        Text("oops")  # type: ignore[arg-type]
