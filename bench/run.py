"""The whole table: every figure of the hub beside its baseline, measured in the same run.

    uv run python bench/run.py              # ~2-3 min on 2 cores
    uv run python bench/run.py --quick      # smoke run, ~1 min, noisy figures
    uv run python bench/run.py --help

Processes, all on 127.0.0.1: this one (the clients, on uvloop), the real hub (`agent-hub serve`,
SQLite in a temporary directory; PostgreSQL for one row), `bench/fake_llm.py` (the model) and
`bench/baselines.py` (the naive SDK relay and the ready-frame push, on the hub's own stack).
What each row means: docs/benchmarks.md. The figures are printed as a table and written as JSON.
This module holds the flags and the order of the rows; the rows are in bench/streams.py and
bench/turns.py, their scenarios in bench/load.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from bench import load
from bench.processes import Baselines, FakeLLM, hub_env, start_hub
from bench.streams import first_token_row, paced_rows, relay_rows, sse_row
from bench.table import Table
from bench.turns import cancel_row, idle_memory_row, short_turn_rows


async def run(args: argparse.Namespace) -> Table:
    table = Table()
    wanted = set(args.only.split(",")) if args.only else set(SECTIONS)
    fake = FakeLLM().start()
    base = Baselines(fake).start()
    try:
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
            hub = start_hub(Path(tmp), fake, False, **hub_env(args))
            try:
                door = load.hub_door(hub)
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
