"""`bench/run.py`'s rows about streams: relay throughput, paced streams, time to first token,
SSE against the socket."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import httpx2
import orjson

from bench import load
from bench.clients import AUTH, TURN_TIMEOUT
from bench.processes import Baselines
from bench.table import Figure, Table, rate, verdict
from tests.hub_process import HubProcess


async def relay_rows(args: argparse.Namespace, hub: load.Door, base: Baselines, t: Table) -> None:
    sessions, n = args.sessions, args.tokens
    naive = await load.relay(load.Door("naive", f"{base.ws_url}/relay"), sessions, n)
    bare = await load.relay(load.Door("push", f"{base.ws_url}/push"), sessions, n)
    sio = await load.socketio_relay(base.ws_url, sessions, n)
    ours = await load.relay(hub, sessions, n)
    t.raw["relay"] = {
        "hub": asdict(ours),
        "naive": asdict(naive),
        "push": asdict(bare),
        "socketio_push": sio,
    }
    what = f"relay tokens/s, {sessions} sessions x {n}-token turns"
    vs_naive, vs_bare = (
        ours.tokens_per_s / naive.tokens_per_s,
        ours.tokens_per_s / bare.tokens_per_s,
    )
    t.add(
        Figure(
            what,
            rate(ours.tokens_per_s),
            f"naive SDK relay {rate(naive.tokens_per_s)}",
            f"{vs_naive:.2f}x",
            ">= 6x",
            verdict(vs_naive >= 6),
        )
    )
    t.add(
        Figure(
            "same, hub / bare Starlette push of ready frames",
            rate(ours.tokens_per_s),
            f"push {rate(bare.tokens_per_s)}",
            f"{vs_bare:.2f}",
            ">= 0.6",
            verdict(vs_bare >= 0.6),
        )
    )
    vs_sio = ours.tokens_per_s / sio
    t.add(
        Figure(
            f"hub relay / python-socketio push of ready frames, {sessions} sockets",
            rate(ours.tokens_per_s),
            f"socket.io push {rate(sio)}",
            f"{vs_sio:.2f}x",
            ">= 3x",
            verdict(vs_sio >= 3),
        )
    )


async def paced_rows(args: argparse.Namespace, hub: load.Door, base: Baselines, t: Table) -> None:
    n, every = args.paced_tokens, 20.0  # 50 tokens/s per stream, a fast real model
    for sessions, p99_target in ((args.sessions, 5.0), (args.paced_sessions, 10.0)):
        naive = await load.paced(load.Door("naive", f"{base.ws_url}/relay"), sessions, n, every)
        ours = await load.paced(hub, sessions, n, every)
        t.raw[f"paced_{sessions}"] = {"hub": asdict(ours), "naive": asdict(naive)}
        delivered = ours.delivered_per_s / ours.offered_per_s
        met = ours.p99_ms < p99_target and delivered > 0.95
        t.add(
            Figure(
                f"{sessions} sessions x 50 tok/s paced ({n} tokens): delivered, token p99",
                f"{rate(ours.delivered_per_s)} of {rate(ours.offered_per_s)} tok/s, "
                f"p99 {ours.p99_ms:.1f} ms",
                f"naive relay p99 {naive.p99_ms:.1f} ms",
                f"{ours.p99_ms / naive.p99_ms:.2f}",
                f"all delivered, p99 < {p99_target:g} ms",
                verdict(met),
                f"p50 {ours.p50_ms:.2f} ms; first token p50 / p99 "
                f"{ours.first_token_p50_ms:.0f} / {ours.first_token_p99_ms:.0f} ms "
                f"(naive p99 {naive.first_token_p99_ms:.0f} ms)",
            )
        )


async def first_token_row(
    args: argparse.Namespace, hub: load.Door, base: Baselines, t: Table
) -> None:
    turns = args.history_turns
    naive = await load.first_token_by_history(load.Door("naive", f"{base.ws_url}/relay"), turns)
    echo = await load.first_token_by_history(load.Door("push", f"{base.ws_url}/push"), turns)
    ours = await load.first_token_by_history(hub, turns)
    t.raw["first_token"] = {"hub": asdict(ours), "naive": asdict(naive), "echo": asdict(echo)}
    added_early, added_late = ours.early_ms - echo.early_ms, ours.late_ms - echo.late_ms
    t.add(
        Figure(
            "time to first token added on an existing session, early / late turns",
            f"{added_early:.1f} / {added_late:.1f} ms",
            f"naive relay adds {naive.early_ms - echo.early_ms:.1f} / "
            f"{naive.late_ms - echo.late_ms:.1f} ms",
            "",
            "< 3 ms, flat in history length",
            verdict(added_late < 3 and added_early < 3),
            f"over the echo's {echo.early_ms:.2f} / {echo.late_ms:.2f} ms; late = the last 10 of "
            f"{turns} turns, {ours.history_messages} messages of history",
        )
    )


async def sse_tokens_per_s(hub: HubProcess, n: int) -> float:
    body = {"session_id": f"sse-{time.time_ns()}", "role": "user", "content": f"bench n={n}"}
    tokens = 0
    async with httpx2.AsyncClient(base_url=hub.http_url, timeout=TURN_TIMEOUT) as client:
        started = time.perf_counter()
        async with client.stream(
            "POST", "/agent/message/stream", json=body, headers=AUTH
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"token"' in line:
                    event = orjson.loads(line[6:])
                    tokens += bool(event.get("token"))
        seconds = time.perf_counter() - started
    if tokens < n * 0.5:  # merged events carry several tokens; a stream this short is broken
        raise RuntimeError(f"SSE stream gave {tokens} token events for {n} tokens")
    return n / seconds


async def sse_row(args: argparse.Namespace, hub: HubProcess, t: Table) -> None:
    n = args.tokens * 25
    sse = [await sse_tokens_per_s(hub, n) for _ in range(3)]
    (ws,) = await load.open_sessions(load.hub_door(hub), f"sse-ws-{time.time_ns()}", 1)
    try:
        socket = []
        for _ in range(3):
            result = await load.turn(ws, f"bench n={n}")
            socket.append(n / result.final)
    finally:
        await ws.close()
    ratio = sorted(sse)[1] / sorted(socket)[1]
    t.raw["sse"] = {"sse_tokens_per_s": sse, "socket_tokens_per_s": socket}
    t.add(
        Figure(
            f"SSE / socket, one {n:,}-token turn",
            f"{rate(sorted(sse)[1])} tok/s",
            f"socket {rate(sorted(socket)[1])} tok/s",
            f"{ratio:.2f}",
            ">= 1 (keep)",
            verdict(ratio >= 1),
            "median of 3",
        )
    )
