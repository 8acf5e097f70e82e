"""Section 4: hub RSS per idle socket, and what it keeps after the sockets are closed."""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.clients import close_all, open_idle
from bench.measure import Report, Row, ratio, rss_kib
from bench.processes import hub_pid
from tests.hub_process import HubProcess


async def idle_memory(hub: HubProcess, count: int, deflate: bool, tag: str) -> dict[str, float]:
    """Restart the hub (a fresh heap), then RSS before/with/after `count` idle sockets."""
    hub.restart()
    pid = hub_pid(hub)
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
