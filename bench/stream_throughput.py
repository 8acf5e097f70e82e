"""Streaming benchmark of the hub: LLM stream parsing, end-to-end token rate, token latency,
memory per idle socket and cancel latency, each printed next to a baseline measured in the same
run.

    uv run python -m bench.stream_throughput            # defaults, ~60 s on 2 cores
    uv run python -m bench.stream_throughput --quick    # smoke run, ~15 s

Processes: this one (clients, asyncio on uvloop like the hub), the real hub
(`python -m hub.cli serve` via tests/hub_process.py, SQLite in a temp dir) and the LLM server
`python -m bench.fake_llm` in its own process.  See bench/README.md for what each figure means.

This module holds the flags and the order of the sections; the sections are in bench/llm_stream.py
(0-1), bench/hub_stream.py (2-3), bench/memory.py (4), bench/cancel.py (5) and
bench/core.py (6), on top of
bench/clients.py (the hub's WebSocket clients), bench/measure.py (meters and tables) and
bench/processes.py (the LLM server and hub processes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.cancel import section_cancel
from bench.core import section_core
from bench.hub_stream import section_hub, section_latency
from bench.llm_stream import section_parse, section_source
from bench.measure import Report, machine_info
from bench.memory import section_memory
from bench.processes import FakeLLM, hub_pid, start_hub

SECTIONS = {"source", "parse", "hub", "lat", "mem", "cancel", "core"}


async def run(args: argparse.Namespace) -> Report:
    report = Report()
    wanted = set(args.only.split(",")) if args.only else SECTIONS
    fake = FakeLLM().start()
    started = time.perf_counter()
    try:
        if "source" in wanted:
            await section_source(args, fake, report)
        direct = 0.0
        if "parse" in wanted or "hub" in wanted:
            direct = await section_parse(args, fake, report)
        if wanted & {"hub", "lat", "mem", "cancel"}:
            with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
                hub = start_hub(Path(tmp), fake, args.deflate)
                try:
                    pids = {"hub": hub_pid(hub), "llm": fake.pid}
                    if "hub" in wanted:
                        await section_hub(args, hub, pids, direct, report)
                    if "lat" in wanted:
                        await section_latency(args, hub, pids, report)
                    if "mem" in wanted:
                        await section_memory(args, hub, report)
                    if "cancel" in wanted:  # after mem's restarts: warm-up runs come first
                        await section_cancel(args, hub, fake, report)
                except BaseException:
                    print(f"\nhub log:\n{hub.log.read_text()[-4000:]}", file=sys.stderr)
                    raise
                finally:
                    hub.stop()
        if "core" in wanted:
            await section_core(args, report)
    finally:
        fake.stop()
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return report


DEFAULTS: dict[str, float] = {
    "chunks": 20_000,
    "repeat": 3,
    "clients": 10,
    "latency_chunks": 400,
    "latency_interval_ms": 5.0,
    "connections": 500,
    "cancels": 50,
}
QUICK: dict[str, float] = {
    "chunks": 2000,
    "repeat": 1,
    "latency_chunks": 60,
    "latency_interval_ms": 2.0,
    "connections": 50,
    "cancels": 10,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream_throughput",
        description="Benchmark the hub's streaming path against baselines measured in the same "
        "run: (0) LLM server ceiling, (1) LLM stream parsing, (2) tokens/s through the hub to 1 "
        "and N clients, (3) token latency percentiles, (4) RSS per idle socket, (5) cancel "
        "latency, (6) the turn core alone on the in-memory fakes.",
        epilog="Explicit flags win over --quick.  See bench/README.md.",
    )

    def number(flag: str, kind: type, text: str) -> None:
        key = flag[2:].replace("-", "_")
        quick = f", --quick: {QUICK[key]}" if key in QUICK else ""
        parser.add_argument(flag, type=kind, help=f"{text} (default: {DEFAULTS[key]}{quick})")

    number("--chunks", int, "chunks per throughput stream")
    number("--repeat", int, "runs per throughput figure, the median is shown")
    number("--clients", int, "clients attached to one session")
    number("--latency-chunks", int, "chunks of the paced latency stream")
    number("--latency-interval-ms", float, "milliseconds between chunks of the latency stream")
    number("--connections", int, "idle sockets opened for the RSS figure")
    number("--cancels", int, "cancelled runs for the cancel latency figure")
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="clients do not offer permessage-deflate (by default they do, like browsers; "
        "the hub accepts it); also skips the no-compression comparison rows",
    )
    parser.add_argument(
        "--only",
        metavar="LIST",
        help="comma-separated sections to run: source,parse,hub,lat,mem,cancel,core "
        "(hub needs parse for its baseline and runs it)",
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of this (client) process (default: %(default)s; the hub uses uvloop)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="smoke run with small sizes")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.only and not set(args.only.split(",")) <= SECTIONS:
        parser.error(f"--only takes a comma-separated subset of {','.join(sorted(SECTIONS))}")
    for key, default in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, QUICK.get(key, default) if args.quick else default)
    loop_name = args.loop
    runner: Callable[[Any], Report] = asyncio.run
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            loop_name = "asyncio (uvloop not installed)"
        else:
            runner = uvloop.run
    machine_info(args, loop_name)
    report = runner(run(args))
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(report.results, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
