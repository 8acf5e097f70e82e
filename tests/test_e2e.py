"""End to end: the hub as a real uvicorn process, the `websockets` client, the real openai
client inside the hub talking to the scripted LLM server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Hang, ScriptedLLM, Text
from tests.socket_client import AUTH, ide, receive, receive_until, send


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path, llm.base_url).start()
    yield process
    process.stop()


async def test_an_ide_session_over_a_real_socket_survives_a_restart(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Text(["Hello", " from", " the hub"]))
    async with ide(hub, "ide-session") as ws:
        assert (await receive(ws))["type"] == "session_ready"
        await send(ws, type="user_message", content="hi", role="user")
        turn = await receive_until(ws, "run_finished")
        await send(ws, type="switch_agent", agent_type="ask", content="", reason="questions")
        switched = await receive(ws)
    assert "".join(f.get("token", "") for f in turn) == "Hello from the hub"
    assert [f["seq"] for f in turn] == sorted({f["seq"] for f in turn})
    assert (switched["type"], switched["to_agent"]) == ("agent_switched", "ask")

    hub.restart()
    async with ide(hub, "ide-session") as ws:
        ready = await receive(ws)
    assert ready["current_agent"] == "ask"
    async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
        history = (await client.get("/sessions/ide-session/history")).json()["messages"]
        current = (await client.get("/agents/ide-session/current")).json()
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "hi"),
        ("system", "Switched from orchestrator to coder: the request is about code"),
        ("assistant", "Hello from the hub"),
        ("system", "Switched from coder to ask: questions"),
    ]
    assert current["agent"] == "ask"
    assert (hub.workdir / "data" / "agent_hub.sqlite3").exists()


@pytest.mark.parametrize("headers", [{}, {"X-Internal-Auth": "wrong-key"}])
async def test_a_socket_without_the_key_is_refused_with_401_json(
    hub: HubProcess, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{hub.ws_url}/ws/x", additional_headers=headers):
            pass
    assert refused.value.response.status_code == 401
    assert orjson.loads(refused.value.response.body or b"{}")["error"] == "unauthorized"
    assert "ERROR" not in hub.log.read_text()  # a refusal is not a server error


async def test_an_invalid_session_id_is_refused_with_400_json(hub: HubProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{hub.ws_url}/ws/{'x' * 200}", additional_headers=AUTH):
            pass
    assert refused.value.response.status_code == 400
    body = orjson.loads(refused.value.response.body or b"{}")
    assert body["error"] == "bad_request" and "session id" in body["detail"]


async def test_a_browser_ticket_opens_exactly_one_socket(hub: HubProcess) -> None:
    async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
        ticket = (await client.post("/auth/ws-ticket", json={"session_id": "browser"})).json()[
            "ticket"
        ]
    async with connect(f"{hub.ws_url}/ws/browser?ticket={ticket}") as ws:
        assert (await receive(ws))["type"] == "session_ready"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{hub.ws_url}/ws/browser?ticket={ticket}"):
            pass
    assert refused.value.response.status_code == 401


async def test_bad_input_on_one_session_leaves_it_and_others_working(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Hang(["slow"]), routed(), Text(["fine"]))
    async with ide(hub, "busy") as busy, ide(hub, "noisy") as noisy:
        await receive(busy)
        await receive(noisy)
        await send(busy, type="user_message", content="take your time")
        await receive_until(busy, "assistant_message")
        await noisy.send("x" * 10_000)
        assert (await receive(noisy))["code"] == "frame_too_large"
        await noisy.send("{broken")
        assert (await receive(noisy))["code"] == "invalid_json"
        await send(noisy, type="user_message", content="quick one")
        noisy_turn = await receive_until(noisy, "run_finished")
        llm.release()
        busy_turn = await receive_until(busy, "run_finished")
    assert "".join(f.get("token", "") for f in noisy_turn) == "fine"
    assert busy_turn[-1]["reason"] == "completed"


async def test_cancel_over_the_socket_stops_the_run(hub: HubProcess, llm: ScriptedLLM) -> None:
    llm.push(routed(), Hang(["thinking"]))
    async with ide(hub, "c") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="long task")
        await receive_until(ws, "assistant_message")
        await send(ws, type="cancel")
        frames = await receive_until(ws, "run_finished")
    assert frames[-1]["reason"] == "cancelled"


async def test_sse_tokens_arrive_while_the_model_is_still_writing(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Hang(["first ", "second"]))
    body = {"session_id": "sse-live", "role": "user", "content": "go"}
    async with (
        httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client,
        client.stream("POST", "/agent/message/stream", json=body) as response,
    ):
        lines = response.aiter_lines()
        switched = await anext(lines)
        assert switched.startswith('data: {"type":"agent_switched"')
        assert await anext(lines) == ""
        first = await anext(lines)
        assert first == 'data: {"token":"first ","is_final":false,"type":"assistant_message"}'
        llm.release()
        rest = [line async for line in lines if line]
    assert rest[-1] == "data: [DONE]"
    assert rest[-2] == 'data: {"token":"","is_final":true,"type":"assistant_message"}'


@pytest.mark.postgres
async def test_the_hub_keeps_history_in_postgresql_across_restarts(
    tmp_path: Path, llm: ScriptedLLM, postgres_url: str
) -> None:
    hub = HubProcess(tmp_path, llm.base_url, AGENT_RUNTIME__DATABASE_URL=postgres_url).start()
    try:
        llm.push(routed(), Text(["stored ", "in postgres"]))
        async with ide(hub, "pg") as ws:
            await receive(ws)
            await send(ws, type="user_message", content="remember me")
            await receive_until(ws, "run_finished")
        hub.restart()
        async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
            health = (await client.get("/health")).json()
            history = (await client.get("/sessions/pg/history")).json()["messages"]
    finally:
        hub.stop()
    assert health["database"] == "reachable"
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "remember me"),
        ("system", "Switched from orchestrator to coder: the request is about code"),
        ("assistant", "stored in postgres"),
    ]
