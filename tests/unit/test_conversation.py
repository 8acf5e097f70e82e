"""The session's conversation kept in memory: what the runs read must be what the store holds,
read from the store once per live session."""

from __future__ import annotations

import asyncio

from agents.run.conversation import Conversation
from db.records import StoredMessage
from hub import protocol as p
from hub.session.driver import LiveSession
from tests.fakes.memory_store import MemoryStore
from tests.fakes.script import Hang, ToolCalls
from tests.fakes.session import rig
from tests.frames import say, send


async def same_as_store(live: LiveSession, store: MemoryStore) -> None:
    assert await live.conversation.recent() == await store.history("s", 200)


async def test_what_the_runs_read_is_what_the_store_holds_through_every_kind_of_write() -> None:
    route = ToolCalls([("r", "route_to_agent", {"agent": "debug", "confidence": 1, "reason": "x"})])
    switch = ToolCalls([("m1", "switch_mode", {"mode": "coder", "reason": "a fix"})])
    read = ToolCalls([("c1", "read_file", {"path": "a.py"})], ["Reading."])
    done = ToolCalls([("f1", "attempt_completion", {"result": "All done."})])
    r = await rig(route, switch, read, done, Hang(["par", "tial"]), agent="orchestrator")
    await say(r.live, "it crashes")
    await r.ide.until_type("run_finished")
    await same_as_store(r.live, r.store)  # a handoff notice, an agent's hand-on, a parked call
    await send(r.live, p.ToolResult(call_id="c1", result="x = 1"), r.ide)
    await r.ide.until_type("run_finished", 2)
    await same_as_store(r.live, r.store)  # the tool's answer, a final answer by a tool
    await say(r.live, "more")
    await r.ide.until(lambda fs: sum(f.get("token") == "tial" for f in fs) == 1)
    await send(r.live, p.Cancel(), r.ide)
    await r.ide.until_type("run_finished", 3)
    await same_as_store(r.live, r.store)  # a cancelled partial answer
    assert [m["role"] for m in r.model.requests[-1]["messages"]][-2:] == ["assistant", "user"]


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.history_reads = 0
        self.hold: asyncio.Event | None = None

    async def history(
        self, session_id: str, limit: int, before: int | None = None
    ) -> list[StoredMessage]:
        self.history_reads += 1
        loaded = await super().history(session_id, limit, before)
        if self.hold is not None:
            await self.hold.wait()
        return loaded


async def test_the_context_is_read_from_the_store_once_then_kept() -> None:
    store = CountingStore()
    conversation = Conversation(store, "s")
    await conversation.add("user", "one")
    for n in range(5):
        await conversation.add("assistant", f"answer {n}")
        assert [m.content for m in await conversation.recent()][-1] == f"answer {n}"
    assert store.history_reads == 1


async def test_a_read_that_overlaps_a_write_is_read_again() -> None:
    store = CountingStore()
    conversation = Conversation(store, "s")
    await conversation.add("user", "one")
    store.hold = asyncio.Event()
    reading = asyncio.create_task(conversation.recent())
    await asyncio.sleep(0)
    await conversation.add("user", "two")  # lands after the read took its rows
    store.hold.set()
    assert [m.content for m in await reading] == ["one", "two"]
    assert store.history_reads == 2


async def test_the_window_keeps_the_latest_messages_and_sees_updates() -> None:
    store = MemoryStore()
    conversation = Conversation(store, "s", size=3)
    first = await conversation.add("assistant", "draft")
    await conversation.recent()
    await conversation.update(first.id, "draft, longer", status=first.status)
    assert (await conversation.recent())[0].content == "draft, longer"
    for n in range(4):
        await conversation.add("user", str(n))
    assert await conversation.recent() == await store.history("s", 3)
    assert [m.content for m in await conversation.recent()] == ["1", "2", "3"]
