"""The live session and turn engine, driven directly: no socket, real SQLite, real openai client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import openai
import pytest

from agents.definitions import AGENTS
from agents.llm import OpenAIChatModel
from agents.routing import Router
from agents.run.engine import TurnEngine
from agents.run.tools import ToolRunner
from db.models import ChatSession, MessageStatus, ToolCallRecord, ToolCallStatus
from db.store import Store
from hub import protocol as p
from hub.fanout import Retention
from hub.registry import SessionRegistry
from hub.session.driver import LiveSession
from tests.frames import Recorder, say, send
from tests.scripted_llm import Cut, Fail, Hang, ScriptedLLM, Text, ToolCalls
from tools.approval import default_policies

store = Store()


@pytest.fixture
async def engine(llm: ScriptedLLM) -> AsyncIterator[TurnEngine]:
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="sk-test", max_retries=0)
    model = OpenAIChatModel(client, "scripted-model")
    yield TurnEngine(model, Router(model, timeout=5), ToolRunner(default_policies(), 5))
    await client.close()


@pytest.fixture
async def session(sqlite_db: str, engine: TurnEngine) -> AsyncIterator[LiveSession]:
    await store.get_or_create_session("s1", "coder")
    live = LiveSession("s1", "coder", engine, store)
    yield live
    await live.close()


@pytest.fixture
async def ide(session: LiveSession) -> Recorder:
    recorder = Recorder()
    await session.attach(recorder, "ide")
    return recorder


async def stored(session_id: str = "s1") -> list[tuple[str, str, MessageStatus]]:
    return [(m.role, m.content, m.status) for m in await store.history(session_id, 50)]


async def test_a_turn_streams_every_token_and_stores_the_answer_once(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    llm.push(Text(["Hel", "lo ", "world"]))
    await say(session, "hi")
    finished = await ide.until_type("run_finished")
    assert ide.types() == [
        "session_ready",
        "run_started",
        *["assistant_message"] * 4,
        "run_finished",
    ]
    assert [f["token"] for f in ide.of_type("assistant_message")] == ["Hel", "lo ", "world", ""]
    assert [f["is_final"] for f in ide.of_type("assistant_message")] == [False] * 3 + [True]
    assert [f["seq"] for f in ide.frames] == [0, 1, 2, 3, 4, 5, 6]
    assert {f["session_id"] for f in ide.frames} == {"s1"}
    for frame in ide.frames:  # the hand-built token frames match the schema too
        p.hub_frame_adapter.validate_python(frame)
    assert finished["reason"] == "completed"
    assert await stored() == [
        ("user", "hi", MessageStatus.COMPLETE),
        ("assistant", "Hello world", MessageStatus.COMPLETE),
    ]
    assert finished["message_id"] == (await store.history("s1", 1))[0].id
    assert llm.requests[0]["messages"] == [
        {"role": "system", "content": AGENTS["coder"].instructions},
        {"role": "user", "content": "hi"},
    ]
    assert llm.requests[0]["stream"] is True


async def test_history_is_the_context_of_the_next_turn(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    llm.push(Text(["4"]), Text(["8"]))
    await say(session, "2+2?")
    await ide.until_type("run_finished")
    await say(session, "times two?")
    await ide.until_type("run_finished", 2)
    assert [m["content"] for m in llm.requests[1]["messages"][1:]] == ["2+2?", "4", "times two?"]


async def test_llm_http_error_ends_the_run_with_a_typed_error_and_the_session_goes_on(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    llm.push(Fail(500, "model overloaded"))
    await say(session, "hi")
    finished = await ide.until_type("run_finished")
    error = ide.of_type("error")[0]
    assert error["code"] == "llm_error"
    assert "500" in error["content"] and "model overloaded" in error["content"]
    assert finished["reason"] == "error"
    assert await stored() == [("user", "hi", MessageStatus.COMPLETE)]

    llm.push(Text(["recovered"]))
    await say(session, "again")
    assert (await ide.until_type("run_finished", 2))["reason"] == "completed"


async def test_a_stream_cut_midway_keeps_the_partial_answer_marked_interrupted(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    llm.push(Cut(["par", "tial"]))
    await say(session, "hi")
    finished = await ide.until_type("run_finished")
    assert ide.text() == "partial"
    assert ide.of_type("error")[0]["code"] == "llm_error"
    assert finished["reason"] == "error"
    assert await stored() == [
        ("user", "hi", MessageStatus.COMPLETE),
        ("assistant", "partial", MessageStatus.INTERRUPTED),
    ]
    assert finished["message_id"] is not None


async def test_cancel_closes_the_llm_stream_and_keeps_the_partial_answer(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    llm.push(Hang(["so far", " so good"]))
    await say(session, "hi")
    await ide.until_type("assistant_message", 2)
    assert session.cancel() is True
    finished = await ide.until_type("run_finished")
    assert finished["reason"] == "cancelled"
    assert await stored() == [
        ("user", "hi", MessageStatus.COMPLETE),
        ("assistant", "so far so good", MessageStatus.CANCELLED),
    ]
    await llm.until_disconnects(1)
    assert llm.disconnects == 1
    assert session.cancel() is False  # nothing left to cancel


async def test_a_message_during_a_run_is_queued_and_runs_next(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    llm.push(Hang(["first"]), Text(["second"]))
    await say(session, "one")
    await ide.until_type("assistant_message")
    await say(session, "two")
    queued = await ide.until_type("message_queued")
    assert (queued["position"], queued["content"]) == (1, "two")
    llm.release()
    await ide.until_type("run_finished", 2)
    assert [f["reason"] for f in ide.of_type("run_finished")] == ["completed", "completed"]
    assert [c for _, c, _ in await stored()] == ["one", "first", "two", "second"]


async def test_every_client_gets_the_same_broadcast_frames(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    console = Recorder()
    await session.attach(console, "ide")
    llm.push(Text(["a", "b"]))
    await say(session, "hi")
    await ide.until_type("run_finished")
    await console.until_type("run_finished")
    assert ide.frames[1:] == console.frames[1:]


async def test_a_tool_call_goes_to_the_ide_and_its_result_back_to_the_model(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    llm.push(
        ToolCalls([("call_1", "read_file", {"path": "src/a.py"})], text_chunks=["Reading."]),
        Text(["It defines main()."]),
    )
    await say(session, "what is in a.py?")
    call = await ide.until_type("tool_call")
    assert (call["call_id"], call["tool_name"], call["arguments"]) == (
        "call_1",
        "read_file",
        {"path": "src/a.py"},
    )
    assert call["requires_approval"] is False
    parked = await ide.until_type("run_finished")
    assert (parked["reason"], parked["waiting_for"]) == ("waiting", ["call_1"])
    await send(session, p.ToolResult(call_id="call_1", result="def main(): ..."))
    assert (await ide.until_type("run_finished", 2))["reason"] == "completed"
    assert ide.text() == "Reading.It defines main()."
    finished = ide.of_type("tool_finished")[0]
    assert (finished["status"], finished["content"]) == ("done", "def main(): ...")

    second = llm.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "read_file"
    assert second[-1] == {
        "role": "tool",
        "content": "def main(): ...",
        "tool_call_id": "call_1",
    }
    record = await ToolCallRecord.get(id="call_1")
    assert (record.status, record.result) == (ToolCallStatus.DONE, "def main(): ...")
    assert [t["function"]["name"] for t in llm.requests[0]["tools"]] == list(AGENTS["coder"].tools)


async def test_a_tool_result_nobody_waits_for_is_refused_to_its_sender_only(
    session: LiveSession, ide: Recorder
) -> None:
    other = Recorder()
    await session.attach(other, "ide")
    await send(session, p.ToolResult(call_id="nope", result=1), ide)
    assert ide.of_type("error")[0]["code"] == "unknown_call"
    assert other.of_type("error") == []


async def test_switching_agent_is_broadcast_stored_and_remembered(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    await send(session, p.SwitchAgent(agent_type="architect", reason="needs a design"), ide)
    switched = ide.of_type("agent_switched")[0]
    assert (switched["from_agent"], switched["to_agent"], switched["reason"]) == (
        "coder",
        "architect",
        "needs a design",
    )
    assert (await ChatSession.get(id="s1")).current_agent == "architect"
    llm.push(Text(["A plan."]))
    await say(session, "design it")
    await ide.until_type("run_finished")
    messages = llm.requests[0]["messages"]
    assert messages[0]["content"] == AGENTS["architect"].instructions
    # The switch is stored for people, not told to the model.
    assert messages[1:] == [{"role": "user", "content": "design it"}]

    await send(session, p.SwitchAgent(agent_type="wizard"), ide)
    assert ide.of_type("error")[-1]["code"] == "unknown_agent"


async def test_ping_is_answered_to_the_sender_only(session: LiveSession, ide: Recorder) -> None:
    other = Recorder()
    await session.attach(other, "ide")
    await send(session, p.Ping(data="42"), ide)
    assert ide.of_type("pong")[0]["data"] == "42"
    assert other.of_type("pong") == []


async def test_a_quiet_session_is_let_go_and_reopened_from_the_database(
    sqlite_db: str, engine: TurnEngine, llm: ScriptedLLM
) -> None:
    registry = SessionRegistry(engine, store, retention=Retention(seconds=0.05))
    live = await registry.open("q")
    ide = Recorder()
    await live.attach(ide, "ide")
    await send(live, p.SwitchAgent(agent_type="debug", reason="investigating"))
    llm.push(Hang(["working"]))
    await say(live, "hi")
    await ide.until_type("assistant_message")
    live.detach(ide)
    assert registry.get("q") is live  # the run goes on without clients

    llm.release()
    async with asyncio.timeout(5):
        while registry.get("q") is not None:  # noqa: ASYNC110 - no event to wait on here
            await asyncio.sleep(0.01)
    reopened = await registry.open("q")
    assert reopened is not live
    assert reopened.current_agent == "debug"
    assert [c for _, c, _ in await stored("q")][-2:] == ["hi", "working"]
    await registry.close_all()


async def test_a_turn_cancelled_while_a_tool_runs_leaves_a_valid_context(
    session: LiveSession, ide: Recorder, llm: ScriptedLLM
) -> None:
    llm.push(ToolCalls([("call_9", "list_files", {"path": "."})]), Text(["fresh start"]))
    await say(session, "list files")
    await ide.until_type("tool_call")
    assert (await ide.until_type("run_finished"))["reason"] == "waiting"
    assert session.cancel() is True
    finished = await ide.until_type("run_finished", 2)
    assert finished["reason"] == "cancelled"
    assert ide.of_type("tool_finished")[0]["status"] == "cancelled"

    await say(session, "never mind")
    await ide.until_type("run_finished", 3)
    roles = [(m["role"], m.get("tool_call_id")) for m in llm.requests[1]["messages"][1:]]
    assert roles == [("user", None), ("assistant", None), ("tool", "call_9"), ("user", None)]
    assert llm.requests[1]["messages"][3]["content"] == "cancelled by the user"
