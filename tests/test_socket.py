"""The IDE socket in-process (httpx-ws): greeting, a whole turn, bad input.

Refusals before the handshake (auth, tickets) need a real server: see test_e2e.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from starlette.applications import Starlette

from hub import protocol
from tests.conftest import API_KEY, routed, ws_client
from tests.scripted_llm import ScriptedLLM, Text


@asynccontextmanager
async def socket(app: Starlette, path: str, **headers: str) -> AsyncIterator[AsyncWebSocketSession]:
    headers = headers or {"X-Internal-Auth": API_KEY}
    async with ws_client(app, **headers) as client, aconnect_ws(path, client) as ws:
        yield ws


async def receive(ws: AsyncWebSocketSession) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(await ws.receive_text(timeout=5))
    return data


async def receive_until(ws: AsyncWebSocketSession, kind: str) -> list[dict[str, Any]]:
    frames = [await receive(ws)]
    while frames[-1]["type"] != kind:
        frames.append(await receive(ws))
    return frames


async def test_a_socket_is_greeted_then_runs_a_whole_turn(app: Starlette, llm: ScriptedLLM) -> None:
    llm.push(routed(), Text(["Hi ", "there"]))
    async with socket(app, "/ws/ide-1") as ws:
        ready = await receive(ws)
        assert ready["type"] == "session_ready"
        assert ready["protocol_version"] == protocol.PROTOCOL_VERSION
        assert (ready["current_agent"], ready["run_state"], ready["pending_approvals"]) == (
            "orchestrator",
            "idle",
            [],
        )
        await ws.send_text('{"type": "user_message", "content": "hello", "role": "user"}')
        frames = await receive_until(ws, "run_finished")
    assert [f["type"] for f in frames] == ["run_started", "usage", "agent_switched"] + [
        "assistant_message"
    ] * 3 + ["usage", "usage", "run_finished"]
    assert (frames[2]["method"], frames[2]["to_agent"], frames[2]["confidence"]) == (
        "llm",
        "coder",
        "0.90",
    )
    assert "".join(f["token"] for f in frames[3:6]) == "Hi there"
    routing, answer = llm.reported  # the routing call's tokens, then the answer's
    assert [(f["scope"], f["agent"], f["total_tokens"]) for f in (frames[1], frames[6])] == [
        ("call", "orchestrator", routing["total_tokens"]),
        ("call", "coder", answer["total_tokens"]),
    ]
    assert frames[7]["session"]["total_tokens"] == routing["total_tokens"] + answer["total_tokens"]
    assert frames[-1]["reason"] == "completed"


BAD_FRAMES = [
    ("{not json", "invalid_json"),
    ("[1, 2]", "invalid_frame"),
    ('{"content": "no type"}', "invalid_frame"),
    ('{"type": "launch_missiles"}', "unknown_frame_type"),
    ('{"type": "user_message"}', "invalid_frame"),
    ('{"type": "user_message", "content": "x", "role": "robot"}', "invalid_frame"),
    ('{"type": "user_message", "content": "x", "role": "tool"}', "invalid_frame"),
    ('{"type": "hitl_decision", "call_id": "c1", "decision": "maybe"}', "invalid_frame"),
    ('{"type": "tool_result", "call_id": "nobody-asked"}', "unknown_call"),
    ('{"type": "switch_agent", "agent_type": "wizard", "content": ""}', "unknown_agent"),
    ('{"type": "user_message", "content": "' + "x" * 5000 + '"}', "frame_too_large"),
]


async def test_bad_frames_get_typed_errors_and_the_session_goes_on(
    app: Starlette, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Text(["still here"]))
    async with socket(app, "/ws/tough") as ws:
        await receive(ws)
        for raw, code in BAD_FRAMES:
            await ws.send_text(raw)
            error = await receive(ws)
            assert (error["type"], error["code"]) == ("error", code), raw
            assert error["content"]
        await ws.send_bytes(b"\xff\xfe")
        assert (await receive(ws))["code"] == "invalid_json"
        await ws.send_text('{"type": "user_message", "content": "are you ok?"}')
        frames = await receive_until(ws, "run_finished")
    assert "".join(f.get("token", "") for f in frames) == "still here"


async def test_ping_is_answered_with_pong(app: Starlette) -> None:
    async with socket(app, "/ws/p") as ws:
        await receive(ws)
        await ws.send_text('{"type": "ping", "data": "t1"}')
        assert (await receive(ws))["data"] == "t1"
