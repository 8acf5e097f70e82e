"""The persistence layer on SQLite and on PostgreSQL: same code, same answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from tortoise import Tortoise, connections

from db.config import tortoise_config
from db.migrate import apply_migrations
from db.models import Approval, ChatSession, MessageStatus, ToolCallRecord, ToolCallStatus
from db.store import Store

store = Store()


async def test_migrations_are_idempotent_and_history_survives_reconnecting(
    database: str,
) -> None:
    await store.get_or_create_session("s", "coder")
    await store.add_message("s", "user", "hello", agent="coder")
    await Tortoise.close_connections()

    await apply_migrations(database)  # a second start migrates nothing and loses nothing
    await Tortoise.init(config=tortoise_config(database))
    messages = await store.history("s", 10)
    assert [(m.role, m.content, m.agent) for m in messages] == [("user", "hello", "coder")]
    assert await store.database_state() == "writable"


async def test_history_pages_oldest_first_before_an_id(database: str) -> None:
    await store.get_or_create_session("s", "coder")
    ids = [(await store.add_message("s", "user", f"m{n}")).id for n in range(5)]
    assert [m.content for m in await store.history("s", 2)] == ["m3", "m4"]
    assert [m.content for m in await store.history("s", 2, before=ids[3])] == ["m1", "m2"]
    assert [m.content for m in await store.history("s", 10, before=ids[0])] == []


async def test_messages_keep_status_agent_and_tool_calls(database: str) -> None:
    await store.get_or_create_session("s", "coder")
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    await store.add_message("s", "assistant", "part", status=MessageStatus.CANCELLED)
    await store.add_message("s", "assistant", "", agent="coder", tool_calls=calls)
    await store.add_message("s", "tool", "result", tool_call_id="c1")
    cancelled, with_calls, tool = await store.history("s", 10)
    assert cancelled.status == MessageStatus.CANCELLED
    assert with_calls.tool_calls == calls
    assert tool.tool_call_id == "c1"


async def test_sessions_list_newest_first_and_remember_their_agent(database: str) -> None:
    for name in ("a", "b", "c"):
        await store.get_or_create_session(name, "orchestrator")
    await store.set_current_agent("b", "debug")
    first = await store.list_sessions(2)
    assert [s.id for s in first] == ["c", "b"]
    rest = await store.list_sessions(2, before=first[-1].created_at)
    assert [s.id for s in rest] == ["a"]
    assert (await ChatSession.get(id="b")).current_agent == "debug"
    assert await store.get_session("nope") is None


async def test_tool_calls_and_pending_approvals_round_trip(database: str) -> None:
    await store.get_or_create_session("s", "coder")
    await store.create_tool_call("c1", "s", "coder", "write_file", {"path": "a.md"})
    await store.create_tool_call("c2", "s", "coder", "read_file", {"path": "b.py"})
    await Approval.create(session_id="s", call_id="c1", expires_at=datetime.now(UTC))
    pending = await store.pending_approvals("s")
    assert [(a.call.id, a.call.arguments) for a in pending] == [("c1", {"path": "a.md"})]

    await store.finish_tool_call("c2", ToolCallStatus.DONE, {"lines": ["x", "y"]}, None)
    await store.finish_tool_call("c1", ToolCallStatus.FAILED, "plain text", "denied")
    done, failed = await ToolCallRecord.get(id="c2"), await ToolCallRecord.get(id="c1")
    assert (done.status, done.result, done.finished_at is not None) == (
        ToolCallStatus.DONE,
        {"lines": ["x", "y"]},
        True,
    )
    assert (failed.result, failed.error) == ("plain text", "denied")


async def test_text_the_hub_produced_with_nul_is_stored_the_same_everywhere(
    database: str,
) -> None:
    # A command's output or a model's token may hold NUL, which PostgreSQL refuses.
    await store.get_or_create_session("s", "coder")
    calls = [{"id": "c1", "type": "function", "function": {"name": "x\x00", "arguments": "{}"}}]
    message = await store.add_message("s", "assistant", "bin\x00ary", tool_calls=calls)
    await store.create_tool_call("c1", "s", "coder", "execute_command", {"command": "cat\x00"})
    await store.finish_tool_call("c1", ToolCallStatus.DONE, "exit code 0\n\x00\x01", None)
    stored = (await store.history("s", 1))[0]
    assert stored.id == message.id and stored.content == "bin\ufffdary"
    assert stored.tool_calls is not None
    assert stored.tool_calls[0]["function"]["name"] == "x\ufffd"
    call = await store.get_tool_call("c1")
    assert call is not None and call.result == "exit code 0\n\ufffd\x01"
    assert call.arguments == {"command": "cat\ufffd"}


async def test_a_session_is_updated_when_it_runs_or_switches_agent(database: str) -> None:
    created = await store.get_or_create_session("s", "orchestrator")
    await store.mark_running("s", True)
    running = await store.get_session("s")
    assert running is not None and running.updated_at > created.updated_at
    await store.set_current_agent("s", "coder")
    switched = await store.get_session("s")
    assert switched is not None and switched.updated_at > running.updated_at


async def test_run_marks_made_at_once_are_stored_together_the_last_one_winning(
    database: str,
) -> None:
    for n in range(6):
        await store.get_or_create_session(f"s{n}", "coder")
    marks = [(f"s{n}", True) for n in range(6)] + [("s1", False), ("s3", False), ("s3", True)]
    await asyncio.gather(*(store.mark_running(session, running) for session, running in marks))
    assert sorted(await store.running_sessions()) == ["s0", "s2", "s3", "s4", "s5"]
    await asyncio.gather(*(store.mark_running(f"s{n}", False) for n in range(6)))
    assert await store.running_sessions() == []


async def test_a_notice_keeps_its_details(database: str) -> None:
    await store.get_or_create_session("s", "coder")
    how = {"method": "keywords", "confidence": None}
    await store.add_message("s", "system", "Switched", notice=True, details=how)
    (notice,) = await store.history("s", 10)
    assert (notice.notice, notice.details) == (True, how)


async def test_sqlite_syncs_per_checkpoint_unless_the_url_asks_for_every_commit(
    tmp_path: Path,
) -> None:
    for query, expected in (("", 1), ("?synchronous=FULL", 2)):  # 1 NORMAL, 2 FULL
        await Tortoise.init(config=tortoise_config(f"sqlite://{tmp_path}/s.sqlite3{query}"))
        try:
            rows = await connections.get("default").execute_query_dict("PRAGMA synchronous")
            mode = await connections.get("default").execute_query_dict("PRAGMA journal_mode")
        finally:
            await Tortoise.close_connections()
        assert (rows[0]["synchronous"], mode[0]["journal_mode"]) == (expected, "wal")
