"""The per-client outbox and the resume buffer, without a socket."""

from __future__ import annotations

from hub import protocol as p
from hub.codec import Frame
from hub.fanout import FrameStream, Retention
from hub.outbox import Outbox
from tests.frames import Recorder


def stream_of_tokens(count: int, retention: Retention | None = None) -> FrameStream:
    stream = FrameStream("s", retention)
    for n in range(count):
        stream.token(f"t{n} ")
    return stream


async def test_a_full_outbox_merges_tokens_and_loses_no_text() -> None:
    outbox = Outbox(limit=3, hard_limit=10)
    stream = FrameStream("s")
    collected: list[Frame] = []

    class Sink:
        name = "sink"

        def deliver(self, frame: Frame) -> None:
            outbox.put(frame)

    stream.subscribers.add(Sink())
    for n in range(100):
        stream.token(f"{n},")
    stream.publish(p.AssistantMessage, token="", is_final=True)
    while len(outbox):
        frame = await outbox.get()
        assert frame is not None
        collected.append(frame)
    text = "".join(f.data["token"] for f in collected)
    assert text == "".join(f"{n}," for n in range(100))
    assert len(collected) == 4 and outbox.merged == 97
    assert [f.data["seq"] for f in collected] == [1, 2, 100, 101]  # seq may skip, never repeat
    assert collected[-1].data["is_final"] is True
    for frame in collected:  # merged frames are still valid frames
        p.hub_frame_adapter.validate_json(frame.text)


async def test_frames_that_cannot_merge_overflow_the_hard_limit() -> None:
    outbox = Outbox(limit=2, hard_limit=4)
    stream = FrameStream("s")
    recorder = Recorder()
    stream.subscribers.add(recorder)
    for _ in range(5):
        stream.publish(p.Pong)
    for frame in recorder.frames:
        outbox.put(Frame(frame, ""))
    assert outbox.overflowed
    assert await outbox.get() is None


def test_replay_gives_exactly_the_missed_frames() -> None:
    stream = stream_of_tokens(10)
    replay = stream.replay(stream.epoch, 7)
    assert replay is not None
    assert [f.data["seq"] for f in replay] == [8, 9, 10]
    assert stream.replay(stream.epoch, 10) == []


def test_replay_refuses_other_epochs_future_seqs_and_dropped_frames() -> None:
    stream = stream_of_tokens(10, Retention(frames=4, seconds=0, max_frames=100))
    assert stream.replay("another-epoch", 8) is None
    assert stream.replay(stream.epoch, 11) is None
    assert stream.replay(stream.epoch, 5) is None  # 6 was dropped: a gap
    replay = stream.replay(stream.epoch, 6)
    assert replay is not None and [f.data["seq"] for f in replay] == [7, 8, 9, 10]


def test_young_frames_are_kept_beyond_the_count_until_the_hard_cap() -> None:
    stream = stream_of_tokens(50, Retention(frames=4, seconds=600, max_frames=30))
    replay = stream.replay(stream.epoch, 20)
    assert replay is not None and len(replay) == 30
    assert stream.replay(stream.epoch, 19) is None


async def test_a_long_stall_merges_every_token_into_one_frame() -> None:
    outbox = Outbox(limit=1, hard_limit=4)
    stream = stream_of_tokens(0)
    stream.subscribers.add(Recorder())  # frames are also encoded for other clients as usual

    class Sink:
        name = "sink"

        def deliver(self, frame: Frame) -> None:
            outbox.put(frame)

    stream.subscribers.add(Sink())
    for n in range(40_000):
        stream.token(f"{n} ")
    assert len(outbox) == 1 and outbox.merged == 39_999
    frame = await outbox.get()
    assert frame is not None and frame.data["seq"] == 40_000
    assert frame.data["token"] == "".join(f"{n} " for n in range(40_000))
    assert frame.text.count('"token"') == 1
