"""The whole table: every figure of the hub beside its baseline, measured in the same run.

    uv run python bench/run.py              # ~4 min on 2 cores
    uv run python bench/run.py --quick      # smoke run, ~1 min, noisy figures
    uv run python bench/run.py --help

Processes, all on 127.0.0.1: this one (the clients, on uvloop), the real hub (`agent-hub serve`,
SQLite in a temporary directory; PostgreSQL for one row), `bench/fake_llm.py` (the model) and
`bench/baselines.py` (the naive SDK relay and the ready-frame push, on the hub's own stack).
What each row means: docs/benchmarks.md. The figures are printed as a table and written as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import orjson

from bench import load
from bench.cancel import cancel_run
from bench.clients import AUTH, TURN_TIMEOUT
from bench.measure import percentile, rss_kib
from bench.processes import Baselines, FakeLLM, hub_pid, start_hub
from tests.hub_process import HubProcess

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"


@dataclass
class Figure:
    what: str
    hub: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""  # met / missed / "" (no target)
    notes: str = ""


class Table:
    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.raw: dict[str, Any] = {}

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        print(f"  {figure.what}: {figure.hub}  [{figure.baseline}]  {figure.verdict}", flush=True)

    def print(self) -> None:
        header = Figure("figure", "hub", "baseline", "ratio", "target", "verdict", "notes")
        rows = [header, *self.figures]
        names = list(asdict(header))
        widths = [max(len(getattr(r, n)) for r in rows) for n in names]
        for i, row in enumerate(rows):
            cells = [getattr(row, n).ljust(w) for n, w in zip(names, widths, strict=True)]
            print("  ".join(cells).rstrip())
            if i == 0:
                print("  ".join("-" * w for w in widths))


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def rate(value: float) -> str:
    return f"{value:,.0f}"


def hub_env(args: argparse.Namespace) -> dict[str, str]:
    """`--hub-source`: that checkout's packages shadow this one's (PYTHONPATH comes first);
    `--workers N`: N processes sharing sessions over Redis, under a prefix of this run's."""
    env = {"PYTHONPATH": str(Path(args.hub_source).resolve())} if args.hub_source else {}
    if args.workers == 1:
        return env
    return {
        **env,
        "AGENT_RUNTIME__WORKERS": str(args.workers),
        "AGENT_RUNTIME__BUS_URL": "redis://127.0.0.1:6379",
        "AGENT_RUNTIME__BUS_PREFIX": f"hub-bench-{uuid.uuid4().hex[:8]}",
    }


def hub_door(hub: HubProcess) -> load.Door:
    return load.Door("hub", f"{hub.ws_url}/ws", AUTH)


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


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str | None]:
    """A fresh PostgreSQL database for one hub, dropped after; None if there is no server."""
    name = f"hub_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"  PostgreSQL not reachable at {PG_ADMIN_URL} ({exc}): its row is skipped")
        yield None
        return
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def short_turn_rows(
    args: argparse.Namespace, hub: load.Door, base: Baselines, fake: FakeLLM, t: Table
) -> None:
    sessions, each = args.sessions, args.short_turns
    echo = await load.short_turns(load.Door("push", f"{base.ws_url}/push"), sessions, each)
    sqlite = await load.short_turns(hub, sessions, each)
    postgres: float | None = None
    async with postgres_database() as url:
        if url is not None:
            with tempfile.TemporaryDirectory(prefix="hub-bench-pg-") as tmp:
                pg_hub = start_hub(Path(tmp), fake, False, url, **hub_env(args))
                try:
                    postgres = await load.short_turns(hub_door(pg_hub), sessions, each)
                finally:
                    pg_hub.stop()
    t.raw["short_turns"] = {"sqlite": sqlite, "postgres": postgres, "echo": echo}
    low = min(sqlite, postgres if postgres is not None else sqlite)
    t.add(
        Figure(
            f"short turns/s, {sessions} sessions, SQLite / PostgreSQL",
            f"{rate(sqlite)} / {rate(postgres) if postgres is not None else 'skipped'}",
            f"instant echo {rate(echo)}",
            f"{sqlite / echo:.3f}",
            ">= 400",
            verdict(low >= 400),
            f"{each} one-token turns in a row per session",
        )
    )


async def idle_memory_row(args: argparse.Namespace, hub: HubProcess, t: Table) -> None:
    if args.workers > 1:
        print("  skipped: with --workers the sockets spread over processes; run it without")
        return
    hub.restart()  # a fresh heap
    pid = hub_pid(hub)
    door = hub_door(hub)
    await load.close_all(await load.open_sessions(door, "mem-warm", 20))
    await asyncio.sleep(0.3)
    before = rss_kib(pid)
    started = time.perf_counter()
    sockets = await load.open_sessions(door, "mem", args.idle)
    opened = time.perf_counter() - started
    await asyncio.sleep(0.5)
    during = rss_kib(pid)
    await load.close_all(sockets)
    per = (during - before) / args.idle
    t.raw["idle_memory"] = {"kib_per_socket": per, "rss_before_kib": before, "rss_kib": during}
    t.add(
        Figure(
            f"idle socket RSS at {args.idle:,}",
            f"{per:.1f} KiB",
            "",
            "",
            "< 25 KiB",
            verdict(per < 25),
            f"RSS {before / 1024:.0f} -> {during / 1024:.0f} MiB; opened at "
            f"{args.idle / opened:,.0f}/s; each socket on its own session",
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
    (ws,) = await load.open_sessions(hub_door(hub), f"sse-ws-{time.time_ns()}", 1)
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


async def cancel_row(args: argparse.Namespace, hub: HubProcess, fake: FakeLLM, t: Table) -> None:
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{fake.port}", timeout=10) as llm:
        for i in range(2):
            await cancel_run(hub, llm, f"cancel-warm-{i}", False)
        runs = [await cancel_run(hub, llm, f"cancel-{i}", False) for i in range(args.cancels)]
    finished = sorted(r.finished * 1000 for r in runs)
    p99 = percentile(finished, 99)
    t.raw["cancel_ms"] = finished
    t.add(
        Figure(
            "cancel -> run_finished p99",
            f"{p99:.1f} ms",
            "",
            "",
            "< 100 ms (keep)",
            verdict(p99 < 100),
            f"p50 {percentile(finished, 50):.1f} ms over {len(runs)} runs",
        )
    )


async def run(args: argparse.Namespace) -> Table:
    table = Table()
    wanted = set(args.only.split(",")) if args.only else set(SECTIONS)
    fake = FakeLLM().start()
    base = Baselines(fake).start()
    try:
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
            hub = start_hub(Path(tmp), fake, False, **hub_env(args))
            try:
                door = hub_door(hub)
                for name in SECTIONS:
                    if name in wanted:
                        print(f"{name}:", flush=True)
                        await SECTIONS[name](args, hub, door, base, fake, table)
            except BaseException:
                print(f"\nhub log:\n{hub.log.read_text()[-4000:]}", file=sys.stderr)
                raise
            finally:
                hub.stop()
    finally:
        base.stop()
        fake.stop()
    return table


Section = Callable[..., Any]
SECTIONS: dict[str, Section] = {
    "relay": lambda a, hub, door, base, fake, t: relay_rows(a, door, base, t),
    "paced": lambda a, hub, door, base, fake, t: paced_rows(a, door, base, t),
    "ttft": lambda a, hub, door, base, fake, t: first_token_row(a, door, base, t),
    "short": lambda a, hub, door, base, fake, t: short_turn_rows(a, door, base, fake, t),
    "sse": lambda a, hub, door, base, fake, t: sse_row(a, hub, t),
    "cancel": lambda a, hub, door, base, fake, t: cancel_row(a, hub, fake, t),
    "memory": lambda a, hub, door, base, fake, t: idle_memory_row(a, hub, t),  # restarts the hub
}

DEFAULTS = {
    "sessions": 100,
    "tokens": 400,
    "paced_sessions": 500,
    "paced_tokens": 100,
    "history_turns": 100,
    "short_turns": 10,
    "idle": 10_000,
    "cancels": 50,
}
QUICK = {
    "sessions": 20,
    "tokens": 100,
    "paced_sessions": 50,
    "paced_tokens": 25,
    "history_turns": 30,
    "short_turns": 3,
    "idle": 500,
    "cancels": 10,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Every figure of the hub beside its baseline in the same run: relay "
        "throughput (vs a naive SDK relay and a bare push), paced streams' latency, time to "
        "first token by history length, short turns/s (SQLite, PostgreSQL vs an instant echo), "
        "idle socket memory, SSE vs socket, cancel latency.",
        epilog="Explicit flags win over --quick. What each figure means: docs/benchmarks.md.",
    )
    for key, default in DEFAULTS.items():
        parser.add_argument(
            f"--{key.replace('_', '-')}",
            type=int,
            help=f"(default {default}, --quick {QUICK[key]})",
        )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run the hub as `serve --workers N` (Redis at 127.0.0.1:6379; default: %(default)s)",
    )
    parser.add_argument(
        "--hub-source",
        metavar="DIR",
        help="run the hub from another checkout of the repository (same dependencies), e.g. "
        "`git worktree add /tmp/before HEAD~5`: its figures beside the same baselines",
    )
    parser.add_argument("--only", metavar="LIST", help=f"some of: {','.join(SECTIONS)}")
    parser.add_argument(
        "--json",
        metavar="FILE",
        default="bench-run.json",
        help="where the figures go as JSON (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run with small sizes")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.only and not set(args.only.split(",")) <= set(SECTIONS):
        parser.error(f"--only takes a comma-separated subset of {','.join(SECTIONS)}")
    for key, default in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, QUICK[key] if args.quick else default)
    import uvloop

    started = time.perf_counter()
    table = uvloop.run(run(args))
    print()
    table.print()
    print(f"\ntotal {time.perf_counter() - started:.0f} s; figures in {args.json}")
    result = {"figures": [asdict(f) for f in table.figures], "raw": table.raw, "args": vars(args)}
    Path(args.json).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
