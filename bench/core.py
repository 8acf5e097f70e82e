"""Section 6: the turn core alone, in this process, on the in-memory fakes of tests/fakes (no
socket, no database, no HTTP): what the session, the engine and the frame stream cost."""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.measure import Report, Row, fmt_rate, ratio
from hub import protocol as p
from hub.codec import Frame
from hub.fanout import FrameStream
from hub.session.commands import Command, Sender
from tests.fakes.script import Text
from tests.fakes.session import rig

WORDS = [" the", " hub", " stream", "s", " token", " of", " a", " socket"]
SENDER = Sender(role="ide", name="ide:bench")


class Counter:
    """A subscriber that counts frames and notices the end of each run."""

    name = "ide:bench"

    def __init__(self) -> None:
        self.frames = 0
        self.finished = asyncio.Event()

    def deliver(self, frame: Frame) -> None:
        self.frames += 1
        if frame.data["type"] == "run_finished":
            self.finished.set()


async def _turns(count: int, tokens: int) -> float:
    """Seconds for `count` turns of `tokens` tokens each, one after another, on one session."""
    chunks = [WORDS[i % len(WORDS)] for i in range(tokens)]
    r = await rig(*[Text(chunks) for _ in range(count)], frames_per_second=1e9)
    counter = Counter()
    await r.live.attach(counter, "ide")
    started = time.perf_counter()
    for _ in range(count):
        counter.finished.clear()
        await r.live.submit(Command(frame=p.UserMessage(content="go"), sender=SENDER))
        await counter.finished.wait()
    seconds = time.perf_counter() - started
    await r.live.close()
    return seconds


def _bare_stream(tokens: int) -> float:
    """The baseline: the same tokens encoded and fanned out by `FrameStream` alone."""
    stream, counter = FrameStream("s"), Counter()
    stream.subscribers.add(counter)
    started = time.perf_counter()
    for i in range(tokens):
        stream.token(WORDS[i % len(WORDS)])
    return time.perf_counter() - started


async def section_core(args: argparse.Namespace, report: Report) -> None:
    n = args.chunks
    bare = n / _bare_stream(n)
    core = n / await _turns(1, n)
    short_turns = max(50, args.repeat * 100)
    turns = short_turns / await _turns(short_turns, 1)
    report.results["core"] = {
        "bare_tokens_per_s": bare,
        "core_tokens_per_s": core,
        "short_turns_per_s": turns,
    }
    report.section(
        f"6. The turn core alone (tests/fakes: in-memory store, in-process model): a {n:,}-token "
        f"turn, and {short_turns} one-token turns",
        [
            Row("baseline: FrameStream.token alone", fmt_rate(bare), "tokens/s"),
            Row("core: submit -> engine -> frames", fmt_rate(core), "tokens/s", ratio(core, bare)),
            Row("core: one-token turns, one after another", fmt_rate(turns), "turns/s"),
        ],
    )
