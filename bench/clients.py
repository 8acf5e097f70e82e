"""WebSocket clients of the hub: attach to sessions, read one turn's frames, ping, idle sockets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.measure import CpuMeter
from tests.conftest import API_KEY
from tests.hub_process import HubProcess

AUTH = {"X-Internal-Auth": API_KEY}
TURN_TIMEOUT = 120.0
STAMP_DIGITS = len(str(time.time_ns()))  # a paced chunk's content: fake_llm.py's time.time_ns()


@dataclass
class ClientResult:
    tokens: int = 0  # tokens received; a merged frame carries several
    frames: int = 0  # token frames received
    first_token: float = 0.0
    final: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)


async def open_clients(
    stack: contextlib.AsyncExitStack, hub: HubProcess, session: str, count: int, deflate: bool
) -> list[ClientConnection]:
    clients = []
    for _ in range(count):
        ws = await stack.enter_async_context(
            connect(
                f"{hub.ws_url}/ws/{session}",
                additional_headers=AUTH,
                compression="deflate" if deflate else None,
                max_size=None,
            )
        )
        ready = orjson.loads(await ws.recv())
        if ready["type"] != "session_ready":
            raise RuntimeError(f"expected session_ready, got {ready}")
        clients.append(ws)
    return clients


async def consume(ws: ClientConnection, stamped: bool) -> ClientResult:
    """Read one turn's frames until run_finished."""
    result = ClientResult()
    last_seq = 0
    while True:
        raw = await ws.recv()
        received_ns = time.time_ns()
        frame = orjson.loads(raw)
        kind = frame["type"]
        if kind == "assistant_message":
            if frame["is_final"]:
                result.final = time.perf_counter()
                continue
            if not result.tokens:
                result.first_token = time.perf_counter()
            # A client that falls behind gets queued token frames merged into one by the hub's
            # outbox (hub/outbox.py), which keeps the later seq: a token frame stands for every
            # seq since the previous one (nothing else is broadcast between tokens here).
            result.tokens += frame["seq"] - last_seq if last_seq else 1
            result.frames += 1
            last_seq = frame["seq"]
            if stamped:
                token = frame["token"]
                if len(token) % STAMP_DIGITS:
                    raise RuntimeError(f"not a concatenation of time_ns stamps: {token!r}")
                for i in range(0, len(token), STAMP_DIGITS):
                    result.latencies_ns.append(received_ns - int(token[i : i + STAMP_DIGITS]))
        elif kind == "run_finished":
            if frame["reason"] != "completed":
                raise RuntimeError(f"run did not complete: {frame}")
            return result
        elif kind == "error":
            raise RuntimeError(f"hub error frame: {frame}")


@dataclass
class Turn:
    seconds: float  # user_message sent -> last client got the is_final frame
    first_token: float  # user_message sent -> first token at the first client
    clients: list[ClientResult]
    cpu: CpuMeter


async def hub_turn(
    hub: HubProcess,
    pids: dict[str, int],
    session: str,
    clients: int,
    spec: str,
    expected: int,
    deflate: bool,
    stamped: bool = False,
) -> Turn:
    """One run on a fresh session with `clients` sockets attached, all reading every token."""
    async with contextlib.AsyncExitStack() as stack:
        sockets = await open_clients(stack, hub, session, clients, deflate)
        readers = [asyncio.create_task(consume(ws, stamped)) for ws in sockets]
        with CpuMeter(pids) as cpu:
            started = time.perf_counter()
            await sockets[0].send(orjson.dumps({"type": "user_message", "content": spec}).decode())
            async with asyncio.timeout(TURN_TIMEOUT):
                results = await asyncio.gather(*readers)
            finished = max(r.final for r in results)
    for r in results:
        if r.tokens != expected:
            raise RuntimeError(f"a client got {r.tokens} tokens, expected {expected}")
    first = min(r.first_token for r in results)
    return Turn(finished - started, first - started, results, cpu)


async def open_idle(hub: HubProcess, sessions: list[str], deflate: bool) -> list[ClientConnection]:
    """One socket per session, each past its session_ready; at most 50 handshakes at a time."""
    gate = asyncio.Semaphore(50)

    async def one(session: str) -> ClientConnection:
        async with gate:
            ws = await connect(
                f"{hub.ws_url}/ws/{session}",
                additional_headers=AUTH,
                compression="deflate" if deflate else None,
                open_timeout=30,
            )
            if orjson.loads(await ws.recv())["type"] != "session_ready":
                raise RuntimeError("expected session_ready")
            return ws

    return list(await asyncio.gather(*(one(s) for s in sessions)))


async def close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets))


async def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """Read frames until one of type `kind` (tokens and other frames in between are skipped)."""
    while True:
        frame: dict[str, Any] = orjson.loads(await ws.recv())
        if frame["type"] == kind:
            return frame
        if frame["type"] == "error":
            raise RuntimeError(f"hub error frame while waiting for {kind}: {frame}")


async def ping_rtt(ws: ClientConnection, data: str) -> float:
    """Seconds from sending `ping` to its `pong` arriving on the same socket."""
    started = time.perf_counter()
    await ws.send(orjson.dumps({"type": "ping", "data": data}).decode())
    while (await next_frame(ws, "pong")).get("data") != data:
        pass
    return time.perf_counter() - started
