"""Streaming benchmark of the hub: LLM stream parsing, end-to-end token rate, token latency,
memory per idle socket and cancel latency, each printed next to a baseline measured in the same
run.

    uv run python bench/stream_throughput.py            # defaults, ~60 s on 2 cores
    uv run python bench/stream_throughput.py --quick    # smoke run, ~15 s

Processes: this script (clients, asyncio on uvloop like the hub), the real hub
(`python -m hub.cli serve` via tests/hub_process.py, SQLite in a temp dir) and the LLM server
`bench/fake_llm.py` in its own process.  See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai
import orjson
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests` is not an installed package
    sys.path.insert(0, str(ROOT))

from agents.llm import ChatModel  # noqa: E402
from tests.conftest import API_KEY  # noqa: E402
from tests.hub_process import HubProcess  # noqa: E402
from tests.scripted_llm import ScriptedLLM, Text  # noqa: E402

AUTH = {"X-Internal-Auth": API_KEY}
MODEL = "bench-model"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TURN_TIMEOUT = 120.0
SECTIONS = {"source", "parse", "hub", "lat", "mem", "cancel"}
# Section 5: a stream far longer than any cancel run lasts, one token every 5 ms (~a fast model).
CANCEL_CHUNKS = 100_000
CANCEL_EVERY_MS = 5
CANCEL_TARGET_MS = 100.0  # the issue: "a cancel stops the run within 100 ms"


# --- processes -------------------------------------------------------------------------------


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


class FakeLLM:
    """bench/fake_llm.py as a subprocess."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> FakeLLM:
        script = Path(__file__).with_name("fake_llm.py")
        self._process = subprocess.Popen(
            [sys.executable, str(script), "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"bench/fake_llm.py did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None


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


def median_run(values: list[float]) -> float:
    return float(statistics.median(values))


# --- LLM-side runs ---------------------------------------------------------------------------


def bench_messages(spec: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"bench {spec}"}]


async def read_raw(base_url: str, n: int) -> float:
    """Seconds to read the raw bytes of an n-chunk stream with httpx2 (no SSE parsing)."""
    body = {"model": MODEL, "stream": True, "messages": bench_messages(f"n={n}")}
    async with httpx2.AsyncClient(timeout=TURN_TIMEOUT) as client:
        started = time.perf_counter()
        async with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
            response.raise_for_status()
            async for _ in response.aiter_raw():
                pass
        return time.perf_counter() - started


async def parse_sdk(client: openai.AsyncOpenAI, n: int) -> float:
    """Seconds for the openai SDK's typed stream to deliver n content deltas."""
    started = time.perf_counter()
    count = 0
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"bench n={n}"}],
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            count += 1
    elapsed = time.perf_counter() - started
    if count != n:
        raise RuntimeError(f"SDK stream gave {count} deltas, expected {n}")
    return elapsed


async def parse_chat_model(model: ChatModel, n: int) -> float:
    """Seconds for the hub's ChatModel.stream to deliver n text deltas."""
    started = time.perf_counter()
    count = 0
    async for item in model.stream(bench_messages(f"n={n}")):
        if type(item) is str:
            count += 1
    elapsed = time.perf_counter() - started
    if count != n:
        raise RuntimeError(f"ChatModel.stream gave {count} deltas, expected {n}")
    return elapsed


async def repeat(times: int, run: Callable[[], Awaitable[float]]) -> list[float]:
    return [await run() for _ in range(times)]


# --- hub-side runs ---------------------------------------------------------------------------


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


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    index = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


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


# --- the benchmark ---------------------------------------------------------------------------


async def section_source(args: argparse.Namespace, fake: FakeLLM, report: Report) -> None:
    n = args.chunks
    with ScriptedLLM() as scripted:
        words = [f" w{i % 97}" for i in range(n)]
        client = openai.AsyncOpenAI(base_url=scripted.base_url, api_key="x", max_retries=0)
        model = ChatModel(client, MODEL)

        async def scripted_raw() -> float:
            scripted.push(Text(words))
            return await read_raw(scripted.base_url, n)

        async def scripted_parse() -> float:
            scripted.push(Text(words))
            return await parse_chat_model(model, n)

        await scripted_raw()  # warm-up
        s_raw = median_run(await repeat(args.repeat, scripted_raw))
        s_parse = median_run(await repeat(args.repeat, scripted_parse))
        await client.close()
    await read_raw(fake.base_url, n)  # warm-up: builds and caches the stream
    f_raw = median_run(await repeat(args.repeat, lambda: read_raw(fake.base_url, n)))
    report.results["source"] = {
        "scripted_raw_cps": n / s_raw,
        "scripted_chat_model_cps": n / s_parse,
        "fake_raw_cps": n / f_raw,
    }
    report.section(
        f"0. LLM server ceiling: {n:,}-chunk stream, raw bytes read with httpx2, "
        f"median of {args.repeat}",
        [
            Row(
                "fake_llm.py (own process), raw read",
                fmt_rate(n / f_raw),
                "chunks/s",
                note="server used below",
            ),
            Row(
                "ScriptedLLM (thread in this process), raw read",
                fmt_rate(n / s_raw),
                "chunks/s",
                ratio(n / s_raw, n / f_raw),
            ),
            Row(
                "ScriptedLLM, ChatModel.stream",
                fmt_rate(n / s_parse),
                "chunks/s",
                note="server and parser share one GIL",
            ),
        ],
    )


async def section_parse(args: argparse.Namespace, fake: FakeLLM, report: Report) -> float:
    n = args.chunks
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
    model = ChatModel(client, MODEL)
    await parse_sdk(client, 100)  # warm-up: connection, lazy imports
    await parse_chat_model(model, 100)
    sdk_runs: list[float] = []
    hub_runs: list[float] = []
    for _ in range(args.repeat):  # interleaved so drift hits both alike
        sdk_runs.append(await parse_sdk(client, n))
        hub_runs.append(await parse_chat_model(model, n))
    await client.close()
    sdk: float = n / median_run(sdk_runs)
    hub: float = n / median_run(hub_runs)
    report.results["parse"] = {"sdk_cps": sdk, "chat_model_cps": hub}
    report.section(
        f"1. LLM stream parsing in this process: {n:,} chunks from fake_llm.py, "
        f"median of {args.repeat}",
        [
            Row("baseline: openai SDK typed stream", fmt_rate(sdk), "chunks/s", "1.00x"),
            Row("hub: ChatModel.stream (raw + orjson)", fmt_rate(hub), "chunks/s", ratio(hub, sdk)),
        ],
    )
    return hub


async def section_hub(
    args: argparse.Namespace, hub: HubProcess, pids: dict[str, int], direct: float, report: Report
) -> None:
    n = args.chunks
    spec = f"bench n={n}"
    await hub_turn(hub, pids, "warm-up", 2, "bench n=200", 200, args.deflate)
    rows = [Row("baseline: ChatModel.stream direct (section 1)", fmt_rate(direct), "tokens/s")]
    results: dict[str, Any] = {}
    variants = [(1, args.deflate), (args.clients, args.deflate)]
    if args.deflate:  # what permessage-deflate costs: the same runs without it
        variants += [(1, False), (args.clients, False)]
    for run, (clients, deflate) in enumerate(dict.fromkeys(variants)):
        turns = [
            await hub_turn(hub, pids, f"tp-{run}-{i}", clients, spec, n, deflate)
            for i in range(args.repeat)
        ]
        turn = sorted(turns, key=lambda t: t.seconds)[len(turns) // 2]
        rate = n / turn.seconds
        label = f"hub -> {clients} client{'s' if clients > 1 else ''}"
        label += "" if deflate else ", no permessage-deflate"
        per_frame = turn.cpu.used["hub"] / (n * clients) * 1e6
        merged = 1 - sum(r.frames for r in turn.clients) / (n * clients)
        note = (
            f"CPU {turn.cpu.describe()}; hub {per_frame:.1f} µs CPU/frame; "
            f"first token {turn.first_token * 1000:.0f} ms"
        )
        if merged:
            note += f"; {merged:.0%} of token frames merged"
        rows.append(
            Row(f"{label}, per client", fmt_rate(rate), "tokens/s", ratio(rate, direct), note)
        )
        if clients > 1:
            rows.append(Row(f"{label}, all clients", fmt_rate(rate * clients), "frames/s"))
        results[f"{clients}_clients{'' if deflate else '_no_deflate'}"] = {
            "tokens_per_s": rate,
            "cpu_share": turn.cpu.share,
            "hub_cpu_us_per_frame": per_frame,
            "merged_token_frames_share": merged,
        }
    report.results["hub"] = results
    report.section(
        f"2. Through the hub: {n:,}-token run, user_message sent -> is_final at every client, "
        f"median of {args.repeat}",
        rows,
    )


async def section_latency(
    args: argparse.Namespace, hub: HubProcess, pids: dict[str, int], report: Report
) -> None:
    n, every = args.latency_chunks, args.latency_interval_ms
    spec = f"bench n={n} every_ms={every:g}"
    rows = []
    results = {}
    for clients in sorted({1, args.clients}):
        turn = await hub_turn(
            hub, pids, f"lat-{clients}", clients, spec, n, args.deflate, stamped=True
        )
        samples = sorted(ns / 1e6 for r in turn.clients for ns in r.latencies_ns)
        p50, p95, p99 = (percentile(samples, q) for q in (50, 95, 99))
        label = f"hub -> {clients} client{'s' if clients > 1 else ''}"
        note = f"{len(samples):,} samples, max {samples[-1]:.2f} ms; CPU {turn.cpu.describe()}"
        if merged := sum(r.tokens - r.frames for r in turn.clients):
            note += f"; {merged} token frames merged"
        rows.append(Row(label, f"{p50:.2f} / {p95:.2f} / {p99:.2f}", "ms p50/p95/p99", note=note))
        results[f"{clients}_clients"] = {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99}
    report.results["latency"] = results
    report.section(
        f"3. Token latency, LLM server write -> client recv: {n} chunks, one every {every:g} ms",
        rows,
    )


async def idle_memory(hub: HubProcess, count: int, deflate: bool, tag: str) -> dict[str, float]:
    """Restart the hub (a fresh heap), then RSS before/with/after `count` idle sockets."""
    hub.restart()
    assert hub._process is not None
    pid = hub._process.pid
    # Warm-up: the first sockets pay for lazy imports, caches and allocator arenas.
    await close_all(await open_idle(hub, [f"{tag}-warm-{i}" for i in range(20)], deflate))
    await asyncio.sleep(0.3)
    before = rss_kib(pid)
    started = time.perf_counter()
    sockets = await open_idle(hub, [f"{tag}-{i}" for i in range(count)], deflate)
    opened = time.perf_counter() - started
    await asyncio.sleep(0.5)
    during = rss_kib(pid)
    await close_all(sockets)
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    # Churn: two more batches on new sessions.  The 2nd mostly refills the heap the 1st left
    # behind (allocator high-water mark, fragmentation); growth from the 2nd to the 3rd is what
    # each opened-and-closed connection/session keeps for good.
    peaks = []
    for batch in (2, 3):
        sockets = await open_idle(hub, [f"{tag}-b{batch}-{i}" for i in range(count)], deflate)
        await asyncio.sleep(0.5)
        peaks.append(rss_kib(pid))
        await close_all(sockets)
    return {
        "rss_before_kib": before,
        "rss_open_kib": during,
        "rss_closed_kib": after,
        "open_seconds": opened,
        "kib_per_connection": (during - before) / count,
        "kib_not_returned_per_closed_connection": (after - before) / count,
        "rss_open_batch2_kib": peaks[0],
        "rss_open_batch3_kib": peaks[1],
        "kib_kept_per_closed_connection": (peaks[1] - peaks[0]) / count,
    }


async def section_memory(args: argparse.Namespace, hub: HubProcess, report: Report) -> None:
    count = args.connections
    variants = [False, True] if args.deflate else [False]
    results = {}
    rows = []
    for deflate in variants:
        m = await idle_memory(hub, count, deflate, "mem-deflate" if deflate else "mem-plain")
        results["deflate" if deflate else "no_deflate"] = m
        base = results["no_deflate"]["kib_per_connection"]
        label = "permessage-deflate" if deflate else "no compression"
        rows += [
            Row(
                f"{label}: per idle connection",
                f"{m['kib_per_connection']:.1f}",
                "KiB",
                ratio(m["kib_per_connection"], base) if deflate else "1.00x",
                f"RSS {m['rss_before_kib'] / 1024:.1f} -> {m['rss_open_kib'] / 1024:.1f} MiB; "
                f"opened in {m['open_seconds']:.2f} s ({count / m['open_seconds']:,.0f}/s)",
            ),
            Row(
                f"{label}: not returned after close",
                f"{m['kib_not_returned_per_closed_connection']:.1f}",
                "KiB",
                note=f"RSS after closing all: {m['rss_closed_kib'] / 1024:.1f} MiB",
            ),
            Row(
                f"{label}: kept per closed connection",
                f"{m['kib_kept_per_closed_connection']:.1f}",
                "KiB",
                note=f"RSS with batch 2 / 3 of {count} open (new sessions): "
                f"{m['rss_open_batch2_kib'] / 1024:.1f} / "
                f"{m['rss_open_batch3_kib'] / 1024:.1f} MiB",
            ),
        ]
    report.results["memory"] = results
    report.section(
        f"4. Hub RSS per idle socket: {count} sockets on distinct sessions, each past "
        "session_ready, a fresh hub process per variant",
        rows,
    )


# --- section 5: cancel latency -----------------------------------------------------------------


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


@dataclass
class CancelRun:
    ping_idle: float  # seconds, ping -> pong before the turn
    ping_streaming: float  # seconds, ping -> pong while tokens stream
    stored: float  # seconds, cancel sent -> is_final (sent after the partial answer is stored)
    finished: float  # seconds, cancel sent -> run_finished(cancelled) received
    llm_closed: float | None  # seconds, cancel sent -> fake_llm.py saw EOF; None: not seen
    tokens_after_cancel: int  # token frames that arrived between cancel and run_finished


async def llm_stream_end(llm: httpx2.AsyncClient, tag: str) -> dict[str, Any] | None:
    """How fake_llm.py's tagged stream ended; None if it still runs after 2 s."""
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        response = await llm.get(f"/bench/streams/{tag}")
        if response.status_code == 200:
            end: dict[str, Any] = response.json()
            return end
        await asyncio.sleep(0.005)
    return None


async def cancel_run(
    hub: HubProcess, llm: httpx2.AsyncClient, session: str, deflate: bool
) -> CancelRun:
    """One fresh session: switch to the coder (no routing call), ping, start a long paced turn,
    ping while it streams, cancel after the first token, time run_finished."""
    async with connect(
        f"{hub.ws_url}/ws/{session}",
        additional_headers=AUTH,
        compression="deflate" if deflate else None,
    ) as ws:
        await next_frame(ws, "session_ready")
        switch = {"type": "switch_agent", "agent_type": "coder", "content": ""}
        await ws.send(orjson.dumps(switch).decode())
        await next_frame(ws, "agent_switched")
        ping_idle = await ping_rtt(ws, "idle")
        spec = f"bench n={CANCEL_CHUNKS} every_ms={CANCEL_EVERY_MS} tag={session}"
        await ws.send(orjson.dumps({"type": "user_message", "content": spec}).decode())
        while (await next_frame(ws, "assistant_message"))["is_final"]:
            pass
        ping_streaming = await ping_rtt(ws, "streaming")
        cancel_ns = time.time_ns()
        started = time.perf_counter()
        await ws.send(orjson.dumps({"type": "cancel"}).decode())
        tokens = 0
        stored = math.nan
        while True:
            frame = orjson.loads(await ws.recv())
            if frame["type"] == "run_finished":
                finished = time.perf_counter() - started
                break
            if frame["type"] == "assistant_message":
                if frame["is_final"]:
                    stored = time.perf_counter() - started
                else:
                    tokens += 1
            elif frame["type"] == "error":
                raise RuntimeError(f"hub error frame after cancel: {frame}")
    if frame["reason"] != "cancelled" or math.isnan(stored):
        raise RuntimeError(f"expected is_final, then run_finished(cancelled); got {frame}")
    end = await llm_stream_end(llm, session)
    llm_closed = None
    if end is not None and end["end"] == "disconnected":
        llm_closed = (end["ended_ns"] - cancel_ns) / 1e9
    return CancelRun(ping_idle, ping_streaming, stored, finished, llm_closed, tokens)


def spread_ms(seconds: list[float]) -> tuple[str, dict[str, float]]:
    """'p50 / p95 / p99 / max' in ms (nearest rank) and the same figures for the JSON."""
    ms = sorted(s * 1000 for s in seconds)
    figures = {f"p{q}_ms": percentile(ms, q) for q in (50, 95, 99)} | {"max_ms": ms[-1]}
    return " / ".join(f"{v:.2f}" for v in figures.values()), figures


async def section_cancel(
    args: argparse.Namespace, hub: HubProcess, fake: FakeLLM, report: Report
) -> None:
    count = args.cancels
    runs: list[CancelRun] = []
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{fake.port}", timeout=10) as llm:
        for i in range(2):  # warm-up: lazy imports, the hub's LLM connection pool
            await cancel_run(hub, llm, f"cancel-warm-{i}", args.deflate)
        for i in range(count):
            async with asyncio.timeout(TURN_TIMEOUT):
                runs.append(await cancel_run(hub, llm, f"cancel-{i}", args.deflate))
    idle_text, idle = spread_ms([r.ping_idle for r in runs])
    streaming_text, streaming = spread_ms([r.ping_streaming for r in runs])
    stored_text, stored = spread_ms([r.stored for r in runs])
    finished_text, finished = spread_ms([r.finished for r in runs])
    closed_runs = [r.llm_closed for r in runs if r.llm_closed is not None]
    unit = "ms p50/p95/p99/max"
    base = idle["p50_ms"]
    late = sorted(r.tokens_after_cancel for r in runs)
    met = finished["p99_ms"] < CANCEL_TARGET_MS
    rows = [
        Row("baseline: ping -> pong, idle socket", idle_text, unit, "1.00x"),
        Row(
            "ping -> pong while tokens stream",
            streaming_text,
            unit,
            ratio(streaming["p50_ms"], base),
        ),
        Row(
            "cancel -> is_final (partial answer stored)",
            stored_text,
            unit,
            ratio(stored["p50_ms"], base),
        ),
        Row(
            "cancel -> run_finished (cancelled)",
            finished_text,
            unit,
            ratio(finished["p50_ms"], base),
            f"p99 {'<' if met else '>='} {CANCEL_TARGET_MS:g} ms; tokens after cancel "
            f"median {statistics.median(late):g}, max {late[-1]}",
        ),
    ]
    results: dict[str, Any] = {
        "runs": count,
        "ping_idle": idle,
        "ping_streaming": streaming,
        "cancel_to_is_final": stored,
        "cancel_to_run_finished": finished,
        "p99_under_target": met,
    }
    if closed_runs:
        closed_text, closed = spread_ms(closed_runs)
        rows.append(
            Row(
                "cancel -> fake_llm.py sees the LLM socket closed",
                closed_text,
                unit,
                ratio(closed["p50_ms"], base),
                f"{len(closed_runs)} of {count} runs; clock: time.time_ns() in both processes",
            )
        )
        results["cancel_to_llm_closed"] = closed
    if len(closed_runs) < count:
        rows.append(
            Row(
                "LLM stream not closed within 2 s of run_finished",
                str(count - len(closed_runs)),
                "runs",
                note="the hub kept reading a cancelled stream",
            )
        )
    report.results["cancel"] = results
    report.section(
        f"5. Cancel latency: {count} runs, each a fresh session on the coder; cancel sent after "
        f"the first token of a {CANCEL_CHUNKS:,}-chunk stream paced at {CANCEL_EVERY_MS} ms",
        rows,
    )
    print(
        f"issue target 'a cancel stops the run within {CANCEL_TARGET_MS:g} ms': "
        f"p99 {finished['p99_ms']:.2f} ms -> {'met' if met else 'NOT met'}"
        + (" (with fewer than 100 runs, p99 is the max)" if count < 100 else "")
    )


def machine_info(args: argparse.Namespace, loop_name: str) -> None:
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
    print("command: " + shlex.join(["python", *sys.argv]))
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
                hub = HubProcess(
                    Path(tmp),
                    fake.base_url,
                    AGENT_RUNTIME__DATABASE_URL=f"sqlite://{tmp}/hub.sqlite3",
                    AGENT_RUNTIME__LLM_MODEL=MODEL,
                    # Off by default in the hub; on here so the deflate rows can be compared.
                    AGENT_RUNTIME__WS_COMPRESSION="true" if args.deflate else "false",
                )
                hub.start()
                try:
                    assert hub._process is not None
                    pids = {"hub": hub._process.pid, "llm": fake.pid}
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
        description="Benchmark the hub's streaming path against baselines measured in the same "
        "run: (0) LLM server ceiling, (1) LLM stream parsing, (2) tokens/s through the hub to 1 "
        "and N clients, (3) token latency percentiles, (4) RSS per idle socket, (5) cancel "
        "latency.",
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
        help="comma-separated sections to run: source,parse,hub,lat,mem,cancel "
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
