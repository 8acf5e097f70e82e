"""What clients send at the edge, as an attacker would: over-long ids, NUL characters, odd
session ids, huge bodies, and a failure inside the hub. Every one gets a typed answer (an error
frame with a code, or a JSON 4xx/5xx), the socket stays open, and nothing is half-stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from hub import protocol
from hub.app import create_app
from hub.config import Settings
from tests.conftest import in_process_client, routed
from tests.scripted_llm import ScriptedLLM, Text
from tests.test_socket import receive, socket

TOO_LONG = "x" * 129


@pytest.mark.parametrize(
    ("frame", "field", "why"),
    [
        ({"type": "tool_result", "call_id": TOO_LONG}, "call_id", "at most 128 characters"),
        ({"type": "hitl_decision", "call_id": TOO_LONG, "decision": "approve"}, "call_id", "128"),
        ({"type": "user_message", "content": "a\u0000b"}, "content", "NUL"),
        ({"type": "switch_agent", "agent_type": "coder", "reason": "\u0000"}, "reason", "NUL"),
        (
            {"type": "tool_result", "call_id": "c", "result": {"k": ["ok", "\u0000"]}},
            "result",
            "NUL",
        ),
    ],
)
async def test_bad_fields_get_an_invalid_frame_naming_them_and_the_socket_stays_open(
    app: Starlette, frame: dict[str, object], field: str, why: str
) -> None:
    async with socket(app, "/ws/s-edge") as ws:
        await receive(ws)
        await ws.send_text(orjson.dumps(frame).decode())
        error = await receive(ws)
        assert (error["type"], error["code"]) == ("error", "invalid_frame")
        assert field in error["content"] and why in error["content"]
        await ws.send_text('{"type": "ping", "data": "still here"}')
        assert (await receive(ws))["data"] == "still here"


async def test_over_long_ids_on_rest_and_sse_are_refused_with_422(
    app_client: httpx.AsyncClient,
) -> None:
    await app_client.post("/sessions", json={"session_id": "s-edge"})
    decided = await app_client.post(
        f"/sessions/s-edge/approvals/{TOO_LONG}", json={"decision": "approve"}
    )
    assert decided.status_code == 422
    assert "call_id" in decided.json()["detail"]
    streamed = await app_client.post(
        "/agent/message/stream",
        json={"session_id": "s-edge", "type": "tool_result", "call_id": TOO_LONG},
    )
    assert (streamed.status_code, streamed.json()["error"]) == (422, "invalid_request")
    switched = await app_client.post(
        "/sessions/s-edge/agent", json={"agent": "ask", "reason": "\0"}
    )
    assert switched.status_code == 422
    history = (await app_client.get("/sessions/s-edge/history")).json()["messages"]
    assert history == []  # nothing half-stored


@pytest.mark.parametrize("session_id", ["abc\n", "a b", "x" * 129, ""])
async def test_session_ids_with_anything_but_the_allowed_characters_are_refused(
    app_client: httpx.AsyncClient, session_id: str
) -> None:
    assert not protocol.is_session_id(session_id)
    body = {"session_id": session_id, "content": "hi"}
    assert (await app_client.post("/agent/message/stream", json=body)).status_code == 422
    assert (await app_client.post("/sessions", json={"session_id": session_id})).status_code == 422
    if session_id:
        path = f"/sessions/{quote(session_id, safe='')}/history"
        assert (await app_client.get(path)).status_code == 400


async def test_a_body_over_the_limit_is_refused_by_its_length_or_as_it_arrives(
    app_client: httpx.AsyncClient,
) -> None:
    big = b'{"session_id": "s", "content": "' + b"x" * 10_000 + b'"}'  # the limit is 4096
    refused = await app_client.post("/agent/message/stream", content=big)
    assert (refused.status_code, refused.json()["error"]) == (413, "too_large")

    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1
            yield b"x" * 1024

    # No Content-Length: the hub reads only up to its limit, then answers.
    await app_client.post("/sessions", json={"session_id": "s"})
    refused = await app_client.post("/sessions/s/allow-rules", content=endless())
    assert refused.status_code == 413
    assert sent <= 6


async def test_a_failure_inside_the_hub_is_answered_logged_and_the_socket_stays_open(
    app: Starlette,
    app_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(call_id: str) -> None:
        raise RuntimeError("the database fell over")

    # A fault injected into the real store: not a refusal the session knows, so the one
    # entry point logs it and answers `internal_error`.
    monkeypatch.setattr(app.state.hub.store, "get_tool_call", broken)
    async with socket(app, "/ws/s-fault") as ws:
        await receive(ws)
        await ws.send_text('{"type": "tool_result", "call_id": "c1"}')
        error = await receive(ws)
        assert (error["type"], error["code"]) == ("error", "internal_error")
        await ws.send_text('{"type": "ping", "data": "still here"}')
        assert (await receive(ws))["data"] == "still here"
    failures = [r for r in caplog.records if "s-fault" in r.getMessage()]
    assert failures and failures[0].exc_info is not None

    streamed = await app_client.post(
        "/agent/message/stream",
        json={"session_id": "s-fault", "type": "tool_result", "call_id": "c1"},
    )
    assert (streamed.status_code, streamed.json()["error"]) == (500, "internal_error")


async def test_the_llm_timeout_bounds_the_whole_call_not_each_read(
    settings: Settings, llm: ScriptedLLM
) -> None:
    # Each token comes well within the timeout; the call as a whole does not.
    llm.push(routed(), Text(["a", "b", "c", "d", "e", "f"], delay=0.2))
    app = create_app(settings.model_copy(update={"llm_timeout_seconds": 0.7}))
    async with (
        app.router.lifespan_context(app),
        in_process_client(app) as client,
    ):
        body = {"session_id": "s-slow", "content": "write code"}
        response = await client.post("/agent/message/stream", json=body)
        events = [
            orjson.loads(line[6:])
            for line in response.text.splitlines()
            if line.startswith("data: {")
        ]
        error, final = events[-2:]  # the error first, then the end of the answer
        assert (error["type"], error["code"]) == ("error", "llm_error")
        assert "longer than 0.7s" in error["content"]
        assert final == {"token": "", "is_final": True, "type": "assistant_message"}
        history = (await client.get("/sessions/s-slow/history")).json()["messages"]
    partial = history[-1]
    assert partial["status"] == "interrupted"
    assert 0 < len(partial["content"]) < 6
