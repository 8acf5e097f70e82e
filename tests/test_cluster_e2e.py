"""Two hub processes sharing PostgreSQL and Redis: a session's clients may be on either."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from hub.identity import issue_token
from tests.conftest import routed
from tests.hub_process import HubProcess
from tests.prometheus import scrape, value
from tests.scripted_llm import Hang, ScriptedLLM, Text, ToolCalls
from tests.socket_client import AUTH, ide, receive, receive_until, send

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
pytestmark = pytest.mark.postgres
SECRET = "cluster-test-secret-" * 2


def _workers(pid: int) -> list[int]:
    """The processes multiprocessing started to serve (not its resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def _listening(port: int) -> int:
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    ours = [row.split() for row in rows if row.split()[1].endswith(f":{port:04X}")]
    return sum(fields[3] == "0A" for fields in ours)  # 0A: LISTEN


async def _listeners(port: int, count: int) -> None:
    """Wait until `count` sockets listen on the port (each worker binds its own)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _listening(port) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} listeners on port {port} did not come up")


async def _needs_redis() -> None:
    try:
        client = redis.from_url(REDIS_URL)
        await client.ping()
        await client.aclose()
    except (OSError, redis.RedisError) as exc:
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"Redis is required in CI but unreachable: {exc}") from exc
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({exc}); required only in CI")


@pytest.fixture
async def pair(
    tmp_path: Path, llm: ScriptedLLM, postgres_url: str
) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    await _needs_redis()
    env = {
        "AGENT_RUNTIME__DATABASE_URL": postgres_url,
        "AGENT_RUNTIME__BUS_URL": REDIS_URL,
        "AGENT_RUNTIME__BUS_PREFIX": f"hub-test-{uuid.uuid4().hex[:8]}",
        "AGENT_RUNTIME__BUS_LEASE_SECONDS": "1.5",  # an owner's death is noticed in seconds
        "AGENT_RUNTIME__AUTH_JWT_SECRET": SECRET,
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = HubProcess(tmp_path / "a", llm.base_url, **env).start()
    second = HubProcess(tmp_path / "b", llm.base_url, **env).start()
    yield first, second
    first.stop()
    second.stop()


async def test_both_processes_keep_a_users_session_theirs(
    pair: tuple[HubProcess, HubProcess], llm: ScriptedLLM
) -> None:
    a, b = pair
    alice = {"Authorization": f"Bearer {issue_token(SECRET, 'alice', 600)}"}
    bob = {"Authorization": f"Bearer {issue_token(SECRET, 'bob', 600)}"}
    llm.push(routed(), Text(["hello ", "alice"]))
    async with connect(f"{a.ws_url}/ws/alices", additional_headers=alice) as on_a:
        await receive(on_a)
        async with connect(f"{b.ws_url}/ws/alices", additional_headers=alice) as on_b:
            await receive(on_b)
            await send(on_b, type="user_message", content="write code")  # relayed to A
            finished = await receive_until(on_a, "run_finished")
        assert tokens(finished) == "hello alice"
        for hub in (a, b):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{hub.ws_url}/ws/alices", additional_headers=bob):
                    pass
            assert refused.value.response.status_code == 404
            async with httpx.AsyncClient(base_url=hub.http_url, headers=bob) as client:
                assert (await client.get("/sessions/alices/history")).status_code == 404
                assert (await client.get("/sessions")).json()["sessions"] == []


def tokens(frames: list[dict[str, Any]]) -> str:
    return "".join(f.get("token", "") for f in frames)


async def test_clients_on_two_processes_share_one_live_session(
    pair: tuple[HubProcess, HubProcess], llm: ScriptedLLM
) -> None:
    a, b = pair
    llm.push(routed(), Hang(["from ", "process A"]))
    async with ide(a, "shared") as on_a:
        ready_a = await receive(on_a)
        async with ide(b, "shared") as on_b:
            ready_b = await receive(on_b)
            assert ready_b["epoch"] == ready_a["epoch"]  # one stream, run by its owner
            await send(on_b, type="user_message", content="hello from B")
            seen_a = await receive_until(on_a, "assistant_message", token="process A")
            seen_b = await receive_until(on_b, "assistant_message", token="process A")
            await send(on_b, type="cancel")
            end_a = await receive_until(on_a, "run_finished")
            end_b = await receive_until(on_b, "run_finished")
    assert seen_a + end_a == seen_b + end_b
    assert tokens(seen_b) == "from process A"
    assert end_b[-1]["reason"] == "cancelled"
    # B relayed A's frames from Redis: how long they waited there is measured, and short.
    relayed, owned = await scrape(b), await scrape(a)
    reads = value(relayed, "agent_hub_bus_lag_seconds_count")
    assert reads >= 1 and value(relayed, "agent_hub_bus_lag_seconds_sum") / reads < 0.5
    assert value(owned, "agent_hub_bus_lag_seconds_count") == 0  # A sent its own clients


async def test_an_approval_on_one_process_is_answered_on_the_other(
    pair: tuple[HubProcess, HubProcess], llm: ScriptedLLM
) -> None:
    a, b = pair
    llm.push(routed(), ToolCalls([("cl-1", "create_directory", {"path": "out"})]), Text(["Done."]))
    async with ide(a, "approve") as on_a:
        await receive(on_a)
        await send(on_a, type="user_message", content="make out/")
        await receive_until(on_a, "run_finished", reason="waiting")
        async with httpx.AsyncClient(base_url=b.http_url, headers=AUTH) as client:
            decided = await client.post(
                "/sessions/approve/approvals/cl-1", json={"decision": "approve"}
            )
            assert decided.status_code == 200, decided.text
            again = await client.post(
                "/sessions/approve/approvals/cl-1", json={"decision": "reject"}
            )
            assert again.status_code == 409
        resent = (await receive_until(on_a, "tool_call", requires_approval=False))[-1]
        await send(on_a, type="tool_result", call_id=resent["call_id"], result="created")
        frames = await receive_until(on_a, "run_finished", reason="completed")
    assert tokens(frames) == "Done."


async def test_a_client_dropped_from_one_process_resumes_on_the_other(
    pair: tuple[HubProcess, HubProcess], llm: ScriptedLLM
) -> None:
    a, b = pair
    llm.push(routed(), Hang(["before ", "the drop"]))
    async with ide(a, "move") as witness:
        await receive(witness)
        async with ide(a, "move") as ws:
            ready = await receive(ws)
            await send(ws, type="user_message", content="go")
            seen = await receive_until(ws, "assistant_message", token="the drop")
        llm.release()
        everything = await receive_until(witness, "run_finished")
        query = f"?last_seq={seen[-1]['seq']}&epoch={ready['epoch']}"
        async with ide(b, "move", query) as ws:
            again = await receive(ws)
            missed = await receive_until(ws, "run_finished")
    assert again["resumed"] is True
    assert missed == [f for f in everything if f["seq"] > seen[-1]["seq"]]


async def test_when_the_owner_dies_the_other_process_takes_over_and_nothing_is_lost(
    pair: tuple[HubProcess, HubProcess], llm: ScriptedLLM
) -> None:
    a, b = pair
    llm.push(
        routed(),
        Hang(["the owner ", "is streaming"]),
        Text(["Sent while A was dying."]),
        Text(["Answered by B."]),
    )
    async with ide(a, "orphan") as on_a:
        await receive(on_a)
        async with ide(b, "orphan") as on_b:
            await receive(on_b)  # B relays: A owns the session
            await send(on_a, type="user_message", content="start")
            await receive_until(on_b, "assistant_message", token="is streaming")
            a.signal(signal.SIGKILL)
            started = time.monotonic()
            # Sent to the dead owner: answered by whoever takes over, never silently lost.
            await send(on_b, type="user_message", content="are you there?")
            async with asyncio.timeout(10):
                greeted = await receive_until(on_b, "resync")
            noticed = time.monotonic() - started
            answered = await receive_until(on_b, "run_finished")
            assert greeted[-2]["type"] == "session_ready"  # greeted again, by B
            assert greeted[-1]["reason"] == "stream_restarted"  # A's stream, known to B
            notes = [m for m in greeted[-1]["messages"] if m["role"] == "system"]
            assert notes[-1]["status"] == "interrupted"  # the run A died in is marked
            await send(on_b, type="user_message", content="still there?")
            frames = await receive_until(on_b, "run_finished")
    assert noticed < 6
    assert tokens(answered) == "Sent while A was dying."
    assert tokens(frames) == "Answered by B."


async def test_serve_with_two_workers_shares_one_port_and_its_sessions(
    tmp_path: Path, llm: ScriptedLLM, postgres_url: str
) -> None:
    """`agent-hub serve --workers 2`: two processes accept on one port; each runs the sessions
    whose sockets it accepted, and a second client of a session reaches it on either."""
    await _needs_redis()
    prefix = f"hub-test-{uuid.uuid4().hex[:8]}"
    hub = HubProcess(
        tmp_path,
        llm.base_url,
        AGENT_RUNTIME__DATABASE_URL=postgres_url,
        AGENT_RUNTIME__BUS_URL=REDIS_URL,
        AGENT_RUNTIME__BUS_PREFIX=prefix,
    ).start("--workers", "2")
    try:
        assert hub._process is not None
        assert len(_workers(hub._process.pid)) == 2
        await _listeners(hub.port, 2)
        # Opened at once, as clients do under load: both processes are woken to accept.
        sockets = await asyncio.gather(
            *(connect(f"{hub.ws_url}/ws/w-{n}", additional_headers=AUTH) for n in range(40))
        )
        for ws in sockets:
            await receive(ws)
        owners = redis.from_url(REDIS_URL)
        try:
            held = {(await owners.get(f"{prefix}:owner:w-{n}")) for n in range(40)}
        finally:
            await owners.aclose()
        assert len(held) == 2  # both processes run sessions
        for n, ws in enumerate(sockets):
            llm.push(routed(), Text([f"answer {n}"]))
            await send(ws, type="user_message", content="write code")
            assert tokens(await receive_until(ws, "run_finished")) == f"answer {n}"
        async with connect(f"{hub.ws_url}/ws/w-0", additional_headers=AUTH) as again:
            ready = await receive(again)
        assert ready["type"] == "session_ready"
        for ws in sockets:
            await ws.close()
        dead = _workers(hub._process.pid)[0]
        os.kill(dead, signal.SIGKILL)  # the supervisor starts another in its place
        deadline = time.monotonic() + 30
        while dead in (now := _workers(hub._process.pid)) or len(now) < 2:
            assert time.monotonic() < deadline, f"no worker replaced {dead}: {now}"
            await asyncio.sleep(0.1)
        await _listeners(hub.port, 2)
    finally:
        hub.stop()
