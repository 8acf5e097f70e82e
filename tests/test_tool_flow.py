"""Tool calls through the live session and the tools, without a socket: policies,
hub-side tools, the workspace executor, timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from agents.definitions import AGENTS
from agents.llm import OpenAIChatModel
from agents.routing import Router
from agents.run.engine import TurnEngine
from agents.run.tools import ToolRunner
from db.models import Approval, ApprovalStatus
from db.store import Store
from hub import protocol as p
from hub.session.driver import LiveSession
from tests.frames import Recorder, say, send
from tests.scripted_llm import ScriptedLLM, Text, ToolCalls
from tools.approval import ToolPolicy, default_policies
from tools.args import ReadFileArgs, WriteFileArgs
from tools.permissions import refusal
from tools.workspace import WorkspaceExecutor

SessionFactory = Callable[..., Any]

store = Store()


@pytest.fixture
async def make_session(sqlite_db: str, llm: ScriptedLLM) -> AsyncIterator[Callable[..., Any]]:
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="sk-test", max_retries=0)
    model = OpenAIChatModel(client, "scripted-model")
    sessions: list[LiveSession] = []

    async def make(
        agent: str = "coder",
        policies: dict[str, ToolPolicy] | None = None,
        workspace: Path | None = None,
        warning: float = 10.0,
    ) -> tuple[LiveSession, Recorder]:
        tools = ToolRunner(
            default_policies() if policies is None else policies,
            tool_timeout=5,
            workspace=WorkspaceExecutor(workspace) if workspace else None,
        )
        engine = TurnEngine(model, Router(model, timeout=5), tools)
        session_id = f"s{len(sessions)}"
        await store.get_or_create_session(session_id, agent)
        live = LiveSession(session_id, agent, engine, store, approval_warning_seconds=warning)
        sessions.append(live)
        ide = Recorder()
        await live.attach(ide, "ide")
        return live, ide

    yield make
    for live in sessions:
        await live.close()
    await client.close()


def call(call_id: str, tool: str, **arguments: Any) -> ToolCalls:
    return ToolCalls([(call_id, tool, arguments)])


def told(llm: ScriptedLLM, request: int, call_id: str) -> str:
    messages = llm.requests[request]["messages"]
    return next(m["content"] for m in messages if m.get("tool_call_id") == call_id)


@pytest.mark.parametrize(
    ("agent", "tool", "arguments", "why"),
    [
        ("architect", "write_file", {"path": "main.py", "content": "x"}, "only Markdown"),
        ("architect", "create_directory", {"path": "docs"}, "may not use create_directory"),
        ("debug", "write_file", {"path": "notes.md", "content": "x"}, "may not use write_file"),
        ("ask", "execute_command", {"command": "ls"}, "may not use execute_command"),
    ],
)
async def test_file_policies_are_enforced_in_the_tool_layer(
    make_session: SessionFactory,
    llm: ScriptedLLM,
    agent: str,
    tool: str,
    arguments: dict[str, Any],
    why: str,
) -> None:
    session, ide = await make_session(agent)
    llm.push(call(f"{agent}-1", tool, **arguments), Text(["ok"]))
    await say(session, "do it")
    assert (await ide.until_type("run_finished"))["reason"] == "completed"
    finished = ide.of_type("tool_finished")[0]
    assert finished["status"] == "refused" and why in finished["content"]
    assert why in told(llm, 1, f"{agent}-1")
    assert ide.of_type("tool_call") == []


def test_the_orchestrator_may_only_read_and_route() -> None:
    # The orchestrator never gets a model turn of its own (it routes), so its restriction is
    # checked where it is enforced: the tool layer, for a call made in its name.
    orchestrator = AGENTS["orchestrator"]
    assert refusal(orchestrator, "read_file", ReadFileArgs(path="a.py")) is None
    write = WriteFileArgs(path="a.md", content="")
    assert "may not use write_file" in (refusal(orchestrator, "write_file", write) or "")


async def test_invalid_arguments_and_unknown_tools_go_back_to_the_model(
    make_session: SessionFactory, llm: ScriptedLLM
) -> None:
    session, ide = await make_session()
    llm.push(
        ToolCalls([("bad-1", "read_file", {"path": ""}), ("bad-2", "teleport", {"to": "mars"})]),
        Text(["I will try again properly."]),
    )
    await say(session, "read it")
    await ide.until_type("run_finished")
    statuses = [(f["call_id"], f["status"]) for f in ide.of_type("tool_finished")]
    assert statuses == [("bad-1", "failed"), ("bad-2", "refused")]
    assert "path: String should have at least 1 character" in told(llm, 1, "bad-1")
    assert "unknown tool 'teleport'" in told(llm, 1, "bad-2")


async def test_a_model_that_sends_over_long_ids_and_names_does_not_lose_the_turn(
    make_session: SessionFactory, llm: ScriptedLLM
) -> None:
    session, ide = await make_session()
    long_id, long_name = "i" * 300, "n" * 100
    llm.push(
        ToolCalls([(long_id, "read_file", {"path": "a.py"}), ("c2", long_name, {})]),
        Text(["Understood."]),
    )
    await say(session, "read it")
    call = await ide.until_type("tool_call")
    assert call["call_id"].startswith("call_") and len(call["call_id"]) <= 128
    finished = await ide.until_type("tool_finished")
    assert (finished["call_id"], finished["status"]) == ("c2", "refused")
    assert f"unknown tool {long_name!r}" in finished["content"]  # the whole name, for the model
    assert (await ide.until_type("run_finished"))["reason"] == "waiting"
    await send(session, p.ToolResult(call_id=call["call_id"], result="x = 1"), ide)
    assert (await ide.until_type("run_finished", 2))["reason"] == "completed"
    sent = llm.requests[1]["messages"]
    ids = [c["id"] for c in sent[-3]["tool_calls"]]
    assert ids == [call["call_id"], "c2"]  # the ids the model reads back match its calls
    assert sorted(m["tool_call_id"] for m in sent[-2:]) == sorted(ids)


async def test_an_edit_the_tool_refuses_leaves_the_approval_pending(
    make_session: SessionFactory, llm: ScriptedLLM
) -> None:
    session, ide = await make_session()
    llm.push(call("e-1", "execute_command", command="make"))
    await say(session, "build")
    await ide.until_type("run_finished")
    await send(
        session,
        p.HitlDecision(call_id="e-1", decision="edit", modified_arguments={"timeout": 9999}),
        ide,
    )
    error = ide.of_type("error")[-1]
    assert error["code"] == "invalid_decision" and "timeout" in error["content"]
    assert (await Approval.get(call_id="e-1")).status is ApprovalStatus.PENDING


async def test_an_undecided_approval_is_warned_about_then_expires(
    make_session: SessionFactory, llm: ScriptedLLM
) -> None:
    policies = {"execute_command": ToolPolicy(ask=True, timeout_seconds=0.6)}
    session, ide = await make_session(policies=policies, warning=0.3)
    llm.push(call("x-1", "execute_command", command="make"), Text(["Skipped it."]))
    await say(session, "build")
    asked = await ide.until_type("tool_call")
    assert asked["expires_at"] is not None
    warning = await ide.until_type("approval_expiring")
    resolved = await ide.until_type("approval_resolved")
    assert (warning["call_id"], resolved["decision"]) == ("x-1", "expired")
    assert (await ide.until_type("run_finished", 2))["reason"] == "completed"
    assert "nobody approved this call in time" in told(llm, 1, "x-1")
    assert ide.of_type("tool_finished")[0]["status"] == "expired"


async def test_a_followup_question_waits_for_the_users_answer(
    make_session: SessionFactory, llm: ScriptedLLM
) -> None:
    session, ide = await make_session()
    llm.push(
        call("q-1", "ask_followup_question", question="Which DB?", options=["SQLite", "PG"]),
        Text(["PostgreSQL it is."]),
    )
    await say(session, "set up storage")
    question = await ide.until_type("followup_question")
    assert (question["question"], question["options"]) == ("Which DB?", ["SQLite", "PG"])
    assert (await ide.until_type("run_finished"))["reason"] == "waiting"
    await send(session, p.UserMessage(content="PG please"), ide)
    assert (await ide.until_type("run_finished", 2))["reason"] == "completed"
    assert told(llm, 1, "q-1") == "PG please"
    assert ide.of_type("message_queued") == []


async def test_switch_mode_and_attempt_completion_are_run_by_the_hub(
    make_session: SessionFactory, llm: ScriptedLLM
) -> None:
    session, ide = await make_session()
    llm.push(
        call("m-1", "switch_mode", mode="debug", reason="this is a crash"),
        call("m-2", "attempt_completion", result="The crash is fixed."),
    )
    await say(session, "it crashes")
    finished = await ide.until_type("run_finished")
    switched = ide.of_type("agent_switched")[0]
    assert (switched["method"], switched["to_agent"]) == ("agent", "debug")
    assert llm.requests[1]["messages"][0]["content"] == AGENTS["debug"].instructions
    assert ide.text() == "The crash is fixed."
    assert finished["reason"] == "completed"
    assert (await store.history(session.id, 1))[0].content == "The crash is fixed."


async def test_cancelling_a_turn_parked_on_an_approval_cancels_the_approval(
    make_session: SessionFactory, llm: ScriptedLLM
) -> None:
    session, ide = await make_session()
    llm.push(call("c-1", "write_file", path="a.txt", content="x"), Text(["next"]))
    await say(session, "write")
    assert (await ide.until_type("run_finished"))["reason"] == "waiting"
    assert session.cancel() is True
    resolved = await ide.until_type("approval_resolved")
    assert resolved["decision"] == "cancelled"
    assert (await ide.until_type("run_finished", 2))["reason"] == "cancelled"
    assert await store.pending_approvals(session.id) == []


async def test_the_workspace_executor_runs_approved_tools_on_the_hub(
    make_session: SessionFactory, llm: ScriptedLLM, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.md").write_text("old")  # no newline at the end
    (tmp_path / "secret.txt").write_text("top secret")
    session, ide = await make_session(workspace=workspace)
    llm.push(
        call("ws-1", "read_file", path="../secret.txt"),
        call("ws-2", "write_file", path="notes.md", content="new\n"),
        Text(["Updated."]),
    )
    await say(session, "update the notes")
    asked = await ide.until_type("tool_call")
    assert asked["requires_approval"] is True
    assert "\n-old\n+new\n" in asked["diff"]
    escape = ide.of_type("tool_finished")[0]
    assert escape["status"] == "failed" and "outside" in escape["content"]
    await send(session, p.HitlDecision(call_id="ws-2", decision="approve"), ide)
    assert (await ide.until_type("run_finished", 2))["reason"] == "completed"
    assert (workspace / "notes.md").read_text() == "new\n"
    assert [f["call_id"] for f in ide.of_type("tool_call")] == ["ws-2"]  # nothing for an IDE
