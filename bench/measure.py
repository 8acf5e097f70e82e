"""What the bench measures with and how it prints it: CPU and RSS of processes, percentiles,
the run's header (machine, versions, configuration) and the Report/Row tables."""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import math
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- meters ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class CpuMeter:
    """CPU busy share of the hub, the LLM server and this (client) process over an interval."""

    pids: dict[str, int]
    start: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def __enter__(self) -> CpuMeter:
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.start["client"] = time.process_time()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.wall
        used = {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}
        used["client"] = time.process_time() - self.start["client"]
        self.used = used
        self.share = {name: seconds / wall for name, seconds in used.items()}

    def describe(self) -> str:
        text = " ".join(f"{name} {share:.0%}" for name, share in self.share.items())
        busiest = max(self.share, key=self.share.__getitem__)
        if self.share[busiest] >= 0.85:  # one core is 100%; this process is on one core too
            text += f" (bound by {busiest})"
        return text


# --- figures ---------------------------------------------------------------------------------


def median_run(values: list[float]) -> float:
    return float(statistics.median(values))


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    index = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def spread_ms(seconds: list[float]) -> tuple[str, dict[str, float]]:
    """'p50 / p95 / p99 / max' in ms (nearest rank) and the same figures for the JSON."""
    ms = sorted(s * 1000 for s in seconds)
    figures = {f"p{q}_ms": percentile(ms, q) for q in (50, 95, 99)} | {"max_ms": ms[-1]}
    return " / ".join(f"{v:.2f}" for v in figures.values()), figures


# --- output ----------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    value: str
    unit: str
    baseline: str = ""
    note: str = ""


class Report:
    def __init__(self) -> None:
        self.results: dict[str, Any] = {}

    def section(self, title: str, rows: list[Row]) -> None:
        header = Row("measurement", "value", "unit", "vs baseline", "notes")
        widths = [max(len(getattr(r, name)) for r in [header, *rows]) for name in header.__dict__]
        print(f"\n{title}")
        line = "  ".join("-" * w for w in widths)
        print(line)
        for i, row in enumerate([header, *rows]):
            cells = list(row.__dict__.values())
            text = "  ".join(
                (c.rjust(w) if j in (1, 3) and i else c.ljust(w))
                for j, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            print(text.rstrip())
            if i == 0:
                print(line)
        sys.stdout.flush()


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def command_line() -> str:
    """How this process was started: `python -m <module> ...` or `python <script> ...`."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    start = ["-m", spec.name] if spec is not None else sys.argv[:1]
    return shlex.join(["python", *start, *sys.argv[1:]])


def machine_info(args: argparse.Namespace, loop_name: str) -> None:
    """The header of a run: command, machine, Python, library versions, configuration."""
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = []
    for package in ("openai", "httpx2", "orjson", "starlette", "uvicorn", "websockets", "uvloop"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{package} {importlib.metadata.version(package)}")
    print(f"command: {command_line()}")
    print(
        f"machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {model}, "
        f"{platform.system()} {platform.release()}"
    )
    print(
        f"python:  {platform.python_implementation()} {platform.python_version()}, "
        f"client loop {loop_name}"
    )
    print(f"libs:    {', '.join(versions)}")
    print(
        f"config:  chunks={args.chunks} repeat={args.repeat} clients={args.clients} "
        f"latency={args.latency_chunks}x{args.latency_interval_ms:g}ms "
        f"connections={args.connections} cancels={args.cancels} deflate={args.deflate}"
    )
