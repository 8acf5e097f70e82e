"""Sections 2 and 3: tokens per second through the hub to 1 and N clients, and token latency."""

from __future__ import annotations

import argparse
from typing import Any

from bench.clients import hub_turn
from bench.measure import Report, Row, fmt_rate, percentile, ratio
from tests.hub_process import HubProcess


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
