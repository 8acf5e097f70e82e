"""Live sessions that never lose a frame, end to end against real hub processes: resume after
a drop, resync after a restart, interrupt, a slow reader, limits, SIGTERM and kill -9."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Hang, ScriptedLLM, Text, ToolCalls
from tests.socket_client import AUTH, ide, receive, receive_until, send


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    process = HubProcess(
        tmp_path,
        llm.base_url,
        AGENT_RUNTIME__SEND_QUEUE_FRAMES="8",
        AGENT_RUNTIME__SLOW_CLIENT_TIMEOUT_SECONDS="1",
        AGENT_RUNTIME__MAX_CONNECTIONS_PER_SESSION="3",
        AGENT_RUNTIME__MAX_MESSAGES_PER_SECOND="5",
    ).start()
    yield process
    process.stop()


def tokens(frames: list[dict[str, Any]]) -> str:
    return "".join(f.get("token", "") for f in frames)


async def test_a_dropped_client_resumes_with_exactly_the_frames_it_missed(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Hang(["one ", "two "]))
    async with ide(hub, "resume") as witness:  # stays connected: the ground truth
        await receive(witness)
        async with ide(hub, "resume") as ws:
            ready = await receive(ws)
            await send(ws, type="user_message", content="count")
            seen = await receive_until(ws, "assistant_message", token="two ")
        last_seq = seen[-1]["seq"]
        llm.release()  # the run goes on while the client is away
        everything = await receive_until(witness, "run_finished")
        query = f"?last_seq={last_seq}&epoch={ready['epoch']}"
        async with ide(hub, "resume", query) as ws:
            again = await receive(ws)
            missed = await receive_until(ws, "run_finished")
    assert (again["type"], again["resumed"]) == ("session_ready", True)
    assert missed == [f for f in everything if f["seq"] > last_seq]
    assert [f["seq"] for f in missed] == list(range(last_seq + 1, missed[-1]["seq"] + 1))
    assert tokens(seen) + tokens(missed) == tokens(everything)


async def test_a_client_from_before_a_restart_is_told_to_resync(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Text(["remembered"]))
    async with ide(hub, "resync") as ws:
        ready = await receive(ws)
        await send(ws, type="user_message", content="remember this")
        frames = await receive_until(ws, "run_finished")
    hub.restart()
    query = f"?last_seq={frames[-1]['seq']}&epoch={ready['epoch']}"
    async with ide(hub, "resync", query) as ws:
        again = await receive(ws)
        resync = await receive(ws)
    assert again["resumed"] is False and again["epoch"] != ready["epoch"]
    assert (resync["type"], resync["reason"]) == ("resync", "stream_restarted")
    assert [m["content"] for m in resync["messages"]][-1] == "remembered"


async def test_an_interrupting_message_cancels_the_turn_and_runs_next(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Hang(["long answer"]), Text(["short answer"]))
    async with ide(hub, "interrupt") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="explain everything")
        await receive_until(ws, "assistant_message")
        await send(ws, type="user_message", content="no, just this", interrupt=True)
        cancelled = (await receive_until(ws, "run_finished"))[-1]
        second = await receive_until(ws, "run_finished")
    assert cancelled["reason"] == "cancelled"
    assert (tokens(second), second[-1]["reason"]) == ("short answer", "completed")


async def test_a_slow_reader_gets_merged_tokens_and_every_character(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    words = [f"w{n} " for n in range(3000)]
    llm.push(routed(), Text(words))
    url = f"{hub.ws_url}/ws/slow"
    # max_queue=1: the client library stops reading the socket when we do, as a slow IDE would.
    async with connect(url, additional_headers=AUTH, max_queue=1) as ws:
        await receive(ws)
        await send(ws, type="user_message", content="write a lot")
        await asyncio.sleep(0.5)  # not reading: the hub's outbox for us fills and merges
        frames = await receive_until(ws, "run_finished")
    pieces = [f for f in frames if f["type"] == "assistant_message" and not f["is_final"]]
    assert tokens(pieces) == "".join(words)
    assert len(pieces) < len(words)
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(set(seqs))


async def test_a_stuck_client_is_cut_off_and_can_resume(hub: HubProcess, llm: ScriptedLLM) -> None:
    # Tool calls cannot be merged: megabytes of them pile up behind a client reading nothing,
    # through a socket whose receive buffer is kept small.
    calls = [(f"stuck-{n}", "read_file", {"path": f"{n}-" + "x" * 30_000}) for n in range(250)]
    llm.push(routed(), ToolCalls(calls))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", hub.port))
    url = f"{hub.ws_url}/ws/stuck"
    async with connect(url, sock=sock, additional_headers=AUTH, max_queue=1) as ws:
        ready = await receive(ws)
        await send(ws, type="user_message", content="read them all")
        await asyncio.sleep(3)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    async with ide(hub, "stuck", f"?last_seq=1&epoch={ready['epoch']}") as ws:
        assert (await receive(ws))["resumed"] is True
        frames = await receive_until(ws, "run_finished")
    assert sum(f["type"] == "tool_call" for f in frames) == 250


async def test_limits_on_connections_and_frame_rate_answer_with_typed_errors(
    hub: HubProcess,
) -> None:
    async with ide(hub, "limits") as a, ide(hub, "limits") as b, ide(hub, "limits") as c:
        for ws in (a, b, c):
            await receive(ws)
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{hub.ws_url}/ws/limits", additional_headers=AUTH):
                pass
        assert refused.value.response.status_code == 429
        assert orjson.loads(refused.value.response.body or b"{}")["error"] == "too_many_connections"
        for n in range(15):  # each a real switch: one to the current agent changes nothing
            await send(a, type="switch_agent", agent_type=("ask", "debug")[n % 2], content="")
        frames = [await receive(a) for _ in range(15)]
    limited = [f for f in frames if f["type"] == "error"]
    assert limited and {f["code"] for f in limited} == {"rate_limited"}
    assert sum(f["type"] == "agent_switched" for f in frames) >= 5


async def test_sigterm_closes_sockets_with_1012_and_keeps_the_partial_answer(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Hang(["half an ", "answer"]))
    async with ide(hub, "sigterm") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="go")
        await receive_until(ws, "assistant_message", token="answer")
        code = hub.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert code == -signal.SIGTERM  # uvicorn shuts down, then re-raises the signal it caught
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    hub.start()
    async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
        history = (await client.get("/sessions/sigterm/history")).json()["messages"]
    assert (history[-1]["content"], history[-1]["status"]) == ("half an answer", "cancelled")


async def test_after_kill_9_the_run_is_marked_interrupted_and_approvals_still_work(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(
        routed(),
        ToolCalls([("k9-1", "execute_command", {"command": "make"})]),
        routed(),
        Hang(["never finished"]),
        Text(["Built."]),
    )
    async with ide(hub, "kill9") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="build")
        await receive_until(ws, "run_finished", reason="waiting")
    async with ide(hub, "kill9-other") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="and this")
        await receive_until(ws, "assistant_message")
        hub.signal(signal.SIGKILL)
    hub.start()
    async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
        other = (await client.get("/sessions/kill9-other/history")).json()["messages"]
        decided = await client.post("/sessions/kill9/approvals/k9-1", json={"decision": "approve"})
    assert (other[-1]["role"], other[-1]["status"]) == ("system", "interrupted")
    assert decided.status_code == 200
    async with ide(hub, "kill9") as ws:
        await receive(ws)
        resent = await receive(ws)
        assert (resent["call_id"], resent["requires_approval"]) == ("k9-1", False)
        await send(ws, type="tool_result", call_id="k9-1", result="exit code 0")
        frames = await receive_until(ws, "run_finished", reason="completed")
    assert tokens(frames) == "Built."


async def test_an_idle_socket_is_closed(tmp_path: Path, llm: ScriptedLLM) -> None:
    hub = HubProcess(tmp_path, llm.base_url, AGENT_RUNTIME__IDLE_TIMEOUT_SECONDS="0.5").start()
    try:
        async with ide(hub, "idle") as ws:
            await receive(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
    finally:
        hub.stop()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


async def test_kill_9_mid_stream_loses_at_most_the_last_checkpoint(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    hub = HubProcess(tmp_path, llm.base_url, AGENT_RUNTIME__CHECKPOINT_SECONDS="0.1").start()
    llm.push(routed(), Hang(["saved ", "before ", "the crash"]))
    try:
        async with (
            ide(hub, "ckpt") as ws,
            httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client,
        ):
            await receive(ws)
            await send(ws, type="user_message", content="write a lot")
            await receive_until(ws, "assistant_message", token="the crash")
            for _ in range(100):  # the draft is saved on the hub's clock, within 0.1 s
                history = (await client.get("/sessions/ckpt/history")).json()["messages"]
                if history[-1]["status"] == "streaming":
                    break
                await asyncio.sleep(0.05)
            assert history[-1]["content"] == "saved before the crash"
            hub.signal(signal.SIGKILL)
        hub.start()
        async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
            history = (await client.get("/sessions/ckpt/history")).json()["messages"]
    finally:
        hub.stop()
    answer, note = history[-2], history[-1]
    assert (answer["role"], answer["content"], answer["status"]) == (
        "assistant",
        "saved before the crash",
        "interrupted",
    )
    assert (note["role"], note["status"]) == ("system", "interrupted")


async def test_a_message_queued_when_the_hub_is_killed_runs_after_the_restart(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    hub = HubProcess(tmp_path, llm.base_url).start()
    llm.push(routed(), Hang(["working on the first"]), Text(["The second, answered."]))
    try:
        async with ide(hub, "queued") as ws:
            await receive(ws)
            await send(ws, type="user_message", content="first")
            await receive_until(ws, "assistant_message")
            await send(ws, type="user_message", content="second")
            await receive_until(ws, "message_queued")
            hub.signal(signal.SIGKILL)
        hub.start()  # the interrupted session is opened at start: its queued message runs
        async with ide(hub, "queued") as ws:
            ready = await receive(ws)
            if ready["run_state"] != "idle":
                await receive_until(ws, "run_finished")
        async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
            history = (await client.get("/sessions/queued/history")).json()["messages"]
    finally:
        hub.stop()
    said = [(m["role"], m["content"]) for m in history if m["role"] in ("user", "assistant")]
    assert said[-2:] == [("user", "second"), ("assistant", "The second, answered.")]
    assert ("user", "first") in said
