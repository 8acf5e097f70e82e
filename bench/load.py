"""Many sessions at once: the scenarios of `bench/run.py`, each run the same way against the hub
and against a baseline of `bench/baselines.py` (both speak the socket protocol the clients read).

A *door* is where sockets are opened: the hub's `/ws/{session}` or a baseline's route. Every
scenario opens its own fresh sessions, one socket each, and warms each with a one-token turn
first (the hub's first turn on a session also asks the model to route it), so what is timed is a
turn on a session that exists.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from statistics import median

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.clients import AUTH, TURN_TIMEOUT, ClientResult, consume
from bench.measure import percentile
from tests.hub_process import HubProcess

HANDSHAKES_IN_FLIGHT = 50


@dataclass(frozen=True)
class Door:
    name: str
    base: str  # ws://host:port/path, the session id is appended
    headers: dict[str, str] = field(default_factory=dict)

    def url(self, session: str) -> str:
        return f"{self.base}/{session}"


async def open_sessions(door: Door, prefix: str, count: int) -> list[ClientConnection]:
    """`count` fresh sessions, one socket each, every one past `session_ready`."""
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)

    async def one(i: int) -> ClientConnection:
        async with gate:
            ws = await connect(
                door.url(f"{prefix}-{i}"),
                additional_headers=door.headers,
                compression=None,
                max_size=None,
                open_timeout=60,
            )
            ready = orjson.loads(await ws.recv())
            if ready["type"] != "session_ready":
                raise RuntimeError(f"{door.name}: expected session_ready, got {ready}")
            return ws

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def turn(ws: ClientConnection, content: str, stamped: bool = False) -> ClientResult:
    """One turn on `ws`; `first_token` and `final` are seconds after the send."""
    started = time.perf_counter()
    await ws.send(orjson.dumps({"type": "user_message", "content": content}).decode())
    result = await consume(ws, stamped)
    result.first_token -= started
    result.final -= started
    return result


async def all_at_once(
    sockets: list[ClientConnection], content: str, expected: int, stamped: bool = False
) -> tuple[float, list[ClientResult]]:
    """The same turn started on every socket at once: wall seconds until the last ends."""
    started = time.perf_counter()
    async with asyncio.timeout(TURN_TIMEOUT):
        results = await asyncio.gather(*(turn(ws, content, stamped) for ws in sockets))
    seconds = time.perf_counter() - started
    for r in results:
        if r.tokens != expected:
            raise RuntimeError(f"a client got {r.tokens} tokens, expected {expected}")
    return seconds, list(results)


async def warmed(door: Door, prefix: str, count: int) -> list[ClientConnection]:
    sockets = await open_sessions(door, prefix, count)
    await all_at_once(sockets, "bench n=1", 1)
    return sockets


@dataclass
class Relay:
    tokens_per_s: float
    first_token_p50_ms: float


async def relay(door: Door, sessions: int, n: int) -> Relay:
    """`sessions` turns of `n` unpaced tokens at once: tokens delivered per second in all."""
    sockets = await warmed(door, f"relay-{time.time_ns()}", sessions)
    try:
        seconds, results = await all_at_once(sockets, f"bench n={n}", n)
    finally:
        await close_all(sockets)
    firsts = sorted(r.first_token * 1000 for r in results)
    return Relay(sessions * n / seconds, percentile(firsts, 50))


@dataclass
class Paced:
    offered_per_s: float
    delivered_per_s: float
    p50_ms: float
    p99_ms: float
    first_token_p50_ms: float
    first_token_p99_ms: float
    samples: int


async def paced(door: Door, sessions: int, n: int, every_ms: float) -> Paced:
    """`sessions` streams at once, each `n` tokens one every `every_ms` like a real model:
    token latency (model write -> client read) and the rate delivered against the rate offered."""
    sockets = await warmed(door, f"paced-{time.time_ns()}", sessions)
    try:
        spec = f"bench n={n} every_ms={every_ms:g}"
        seconds, results = await all_at_once(sockets, spec, n, stamped=True)
    finally:
        await close_all(sockets)
    samples = sorted(ns / 1e6 for r in results for ns in r.latencies_ns)
    firsts = sorted(r.first_token * 1000 for r in results)
    return Paced(
        offered_per_s=sessions * 1000 / every_ms,
        delivered_per_s=sessions * n / seconds,
        p50_ms=percentile(samples, 50),
        p99_ms=percentile(samples, 99),
        first_token_p50_ms=percentile(firsts, 50),
        first_token_p99_ms=percentile(firsts, 99),
        samples=len(samples),
    )


@dataclass
class FirstToken:
    early_ms: float  # median over the first turns of a session
    late_ms: float  # median over the last turns, with the longest history
    history_messages: int  # messages in the session before the last turn


async def first_token_by_history(door: Door, turns: int, window: int = 10) -> FirstToken:
    """One session, `turns` one-token turns in a row: time to first token early and late."""
    (ws,) = await open_sessions(door, f"ttft-{time.time_ns()}", 1)
    try:
        firsts = [(await turn(ws, "bench n=1")).first_token * 1000 for _ in range(turns)]
    finally:
        await ws.close()
    return FirstToken(median(firsts[1 : 1 + window]), median(firsts[-window:]), 2 * (turns - 1))


async def short_turns(door: Door, sessions: int, turns_each: int) -> float:
    """`sessions` sessions each taking one-token turns back to back: turns per second in all."""
    sockets = await warmed(door, f"short-{time.time_ns()}", sessions)

    async def session(ws: ClientConnection) -> None:
        for _ in range(turns_each):
            result = await turn(ws, "bench n=1")
            if result.tokens != 1:
                raise RuntimeError(f"a one-token turn gave {result.tokens} tokens")

    try:
        started = time.perf_counter()
        async with asyncio.timeout(TURN_TIMEOUT):
            await asyncio.gather(*(session(ws) for ws in sockets))
        seconds = time.perf_counter() - started
    finally:
        await close_all(sockets)
    return sessions * turns_each / seconds


async def _socketio_connect(url: str) -> ClientConnection:
    """An Engine.IO v4 WebSocket with the default namespace joined (the wire format of
    python-socketio's own client, without its layers in the measuring process)."""
    ws = await connect(f"{url}/socket.io/?EIO=4&transport=websocket", max_size=None)
    opened = await ws.recv()
    if not str(opened).startswith("0"):
        raise RuntimeError(f"socket.io: expected an open packet, got {opened!r}")
    await ws.send("40")
    joined = await ws.recv()
    if not str(joined).startswith("40"):
        raise RuntimeError(f"socket.io: expected a namespace connect, got {joined!r}")
    return ws


async def _socketio_turn(ws: ClientConnection, n: int) -> int:
    await ws.send("42" + orjson.dumps(["user_message", f"bench n={n}"]).decode())
    tokens = 0
    while True:
        packet = str(await ws.recv())
        if packet == "2":  # an Engine.IO ping
            await ws.send("3")
        elif packet.startswith('42["token"'):
            tokens += 1
        elif packet.startswith('42["done"'):
            return tokens


async def socketio_relay(url: str, sessions: int, n: int) -> float:
    """python-socketio pushing `n` ready events to each of `sessions` sockets at once."""
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)

    async def one() -> ClientConnection:
        async with gate:
            return await _socketio_connect(url)

    sockets = list(await asyncio.gather(*(one() for _ in range(sessions))))
    try:
        await asyncio.gather(*(_socketio_turn(ws, 1) for ws in sockets))  # warm
        started = time.perf_counter()
        async with asyncio.timeout(TURN_TIMEOUT):
            counts = await asyncio.gather(*(_socketio_turn(ws, n) for ws in sockets))
        seconds = time.perf_counter() - started
    finally:
        await close_all(sockets)
    if any(count != n for count in counts):
        raise RuntimeError(f"socket.io clients got {counts[:5]}..., expected {n} each")
    return sessions * n / seconds


def hub_door(hub: HubProcess) -> Door:
    """The hub's own socket route, with the internal key."""
    return Door("hub", f"{hub.ws_url}/ws", AUTH)
