"""`bench/run.py`'s rows about turns and sockets: short turns on SQLite and PostgreSQL, cancel
latency, idle socket memory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx2

from bench import load
from bench.cancel import cancel_run
from bench.measure import percentile, rss_kib
from bench.processes import Baselines, FakeLLM, hub_env, hub_pid, start_hub
from bench.table import Figure, Table, rate, verdict
from tests.hub_process import HubProcess

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"


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
                    postgres = await load.short_turns(load.hub_door(pg_hub), sessions, each)
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
    door = load.hub_door(hub)
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
