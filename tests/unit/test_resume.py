"""Clients that come back mid-run: what they are sent never loses text and never overflows."""

from __future__ import annotations

import asyncio

from db.records import MessageStatus
from hub import protocol as p
from hub.session.clients import ResumePoint
from tests.fakes.script import Hang, Text
from tests.fakes.session import rig
from tests.frames import Recorder, say, send


async def test_a_resync_mid_run_carries_the_text_streamed_so_far() -> None:
    words = ["The ", "whole ", "answer ", "is ", "here."]
    r = await rig(Text(words, delay=0.02))
    await say(r.live, "go")
    await r.ide.until(lambda fs: sum(f["type"] == "assistant_message" for f in fs) == 2)
    late = Recorder("ide:late")
    await r.live.attach(late, "ide", ResumePoint("an-epoch-it-never-had", 3))
    await late.until_type("run_finished")
    assert late.types()[:2] == ["session_ready", "resync"]
    resync = late.frames[1]
    assert resync["reason"] == "epoch_unknown"
    in_flight = resync["in_flight"]
    assert in_flight["status"] == "streaming" and in_flight["agent"] == "coder"
    after = [f["token"] for f in late.of_type("assistant_message") if f["seq"] > in_flight["seq"]]
    assert in_flight["content"] + "".join(after) == "".join(words)
    assert [m["content"] for m in resync["messages"]] == ["go"]


async def test_a_resync_after_the_message_is_stored_has_nothing_in_flight() -> None:
    r = await rig(Text(["done"]))
    await say(r.live, "go")
    await r.ide.until_type("run_finished")
    late = Recorder("ide:late")
    await r.live.attach(late, "ide", ResumePoint("old", 1))
    resync = late.of_type("resync")[0]
    assert resync["in_flight"] is None
    assert [m["content"] for m in resync["messages"]] == ["go", "done"]


async def test_a_replay_larger_than_the_send_queue_is_a_resync_not_a_cut_off() -> None:
    r = await rig(max_replay_frames=3)
    epoch = r.ide.frames[0]["epoch"]
    for agent in ["ask", "debug", "coder", "ask", "debug"]:
        await send(r.live, p.SwitchAgent(agent_type=agent), r.ide)
    late = Recorder("ide:late")
    await r.live.attach(late, "ide", ResumePoint(epoch, 0))
    assert late.types() == ["session_ready", "resync"]
    assert late.frames[1]["reason"] == "replay_too_large"
    small = Recorder("ide:small")
    await r.live.attach(small, "ide", ResumePoint(epoch, 3))  # two frames missed: replayed
    assert small.types() == ["session_ready", "agent_switched", "agent_switched"]
    assert small.frames[0]["resumed"] is True


async def test_a_streaming_answer_is_saved_as_it_grows_then_finished_in_place() -> None:
    r = await rig(Hang(["saved ", "while ", "streaming"]), checkpoint_seconds=0.05)
    await say(r.live, "go")
    await r.ide.until(lambda fs: sum(f["type"] == "assistant_message" for f in fs) == 3)
    async with asyncio.timeout(5):  # the saver runs on its own clock
        await r.store.until(lambda s: any(m.role == "assistant" for m in s.messages))
    drafts = [m for m in r.store.messages if m.role == "assistant"]
    assert (drafts[0].content, drafts[0].status) == (
        "saved while streaming",
        MessageStatus.STREAMING,
    )
    # A client resyncing now gets the text once: in flight, not also as the stored draft.
    late = Recorder("ide:late")
    await r.live.attach(late, "ide", ResumePoint("old", 0))
    resync = late.of_type("resync")[0]
    assert [m["content"] for m in resync["messages"]] == ["go"]
    assert resync["in_flight"]["content"] == "saved while streaming"
    r.model.release()
    await r.ide.until_type("run_finished")
    answers = [m for m in r.store.messages if m.role == "assistant"]
    assert [(m.id, m.content, m.status) for m in answers] == [
        (drafts[0].id, "saved while streaming", MessageStatus.COMPLETE)
    ]


async def test_a_queued_message_is_stored_while_it_waits_and_after_the_answer_before_it() -> None:
    r = await rig(Hang(["one"]), Text(["two"]))
    await say(r.live, "first")
    await r.ide.until_type("assistant_message")
    await say(r.live, "second")
    assert [q.content for q in await r.store.queued_messages("s")] == ["second"]
    r.model.release()
    await r.ide.until_type("run_finished", 2)
    assert await r.store.queued_messages("s") == []
    assert [(m.role, m.content) for m in r.store.messages] == [
        ("user", "first"),
        ("assistant", "one"),
        ("user", "second"),
        ("assistant", "two"),
    ]


async def test_queued_messages_are_taken_up_when_the_session_is_restored() -> None:
    r = await rig(Text(["late answer"]))
    await r.store.queue_message("s", "user", "sent before a crash")
    await r.live.restore()
    await r.ide.until_type("run_finished")
    assert [m.content for m in r.store.messages] == ["sent before a crash", "late answer"]
    assert await r.store.queued_messages("s") == []
