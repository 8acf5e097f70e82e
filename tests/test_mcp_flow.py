"""An MCP server's tools in a live session: offered to the model, approved like the built-in
tools unless the server marks them read-only, run by the hub (never the IDE), and their
failures told to the model. The server is real (`tests/mcp_server.py`, over stdio)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from agents.definitions import AGENTS
from agents.llm import OpenAIChatModel
from agents.routing import Router
from agents.run.engine import TurnEngine
from agents.run.history import model_messages
from agents.run.mounted import MountedCalls
from agents.run.steps import OpenCall
from agents.run.tools import ToolRunner
from db.store import Store
from hub import protocol as p
from hub.session.driver import LiveSession
from tests.frames import Recorder, say, send
from tests.scripted_llm import ScriptedLLM, Text, ToolCalls
from tools.approval import default_policies
from tools.mcp import McpServers, McpServerSpec

ROOT = Path(__file__).resolve().parent.parent
Factory = Callable[..., Any]
store = Store()


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[McpServers]:
    spec = McpServerSpec(
        command=sys.executable,
        args=["-m", "tests.mcp_server", "stdio"],
        env={"MCP_NOTES": str(tmp_path / "notes.txt"), "PYTHONPATH": str(ROOT)},
        agents=["coder", "ask"],
    )
    mounted = McpServers({"local": spec, "gone": McpServerSpec(command="/nonexistent/server")})
    await mounted.start()
    yield mounted
    await mounted.aclose()


@pytest.fixture
async def session(
    sqlite_db: str, llm: ScriptedLLM, servers: McpServers
) -> AsyncIterator[tuple[LiveSession, Recorder]]:
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="sk-test", max_retries=0)
    model = OpenAIChatModel(client, "scripted-model")
    policies = default_policies()
    tools = ToolRunner(policies, 5, mounted=MountedCalls(servers, policies))
    engine = TurnEngine(model, Router(model, timeout=5), tools)
    await store.get_or_create_session("m1", "coder")
    live = LiveSession("m1", "coder", engine, store)
    ide = Recorder()
    await live.attach(ide, "ide")
    yield live, ide
    await live.close()
    await client.close()


def told(llm: ScriptedLLM, request: int, call_id: str) -> str:
    messages = llm.requests[request]["messages"]
    return next(m["content"] for m in messages if m.get("tool_call_id") == call_id)


def offered(llm: ScriptedLLM, request: int) -> set[str]:
    return {t["function"]["name"] for t in llm.requests[request]["tools"]}


async def test_a_read_only_tool_runs_at_once_and_the_model_reads_its_result(
    session: tuple[LiveSession, Recorder], llm: ScriptedLLM
) -> None:
    live, ide = session
    llm.push(ToolCalls([("m-1", "mcp__local__lookup", {"word": "hub"})]), Text(["Found it."]))
    await say(live, "look hub up")
    assert (await ide.until_type("run_finished", within=15))["reason"] == "completed"
    assert {"mcp__local__lookup", "mcp__local__write_note", "read_file"} <= offered(llm, 0)
    assert told(llm, 1, "m-1").startswith("hub: a word of the test glossary")
    finished = ide.of_type("tool_finished")[0]
    assert (finished["tool_name"], finished["status"]) == ("mcp__local__lookup", "done")
    assert ide.of_type("tool_call") == []  # the hub ran it: nothing for the IDE to do


async def test_a_tool_with_effects_waits_for_approval_and_the_hub_runs_it(
    session: tuple[LiveSession, Recorder], llm: ScriptedLLM, tmp_path: Path
) -> None:
    live, ide = session
    note = ToolCalls([("n-1", "mcp__local__write_note", {"text": "remember"})])
    llm.push(note, Text(["Noted."]))
    await say(live, "note it")
    asked = await ide.until_type("tool_call", within=15)
    assert (asked["tool_name"], asked["requires_approval"]) == ("mcp__local__write_note", True)
    assert (await ide.until_type("run_finished"))["reason"] == "waiting"
    assert not (tmp_path / "notes.txt").exists()
    await send(live, p.HitlDecision(call_id="n-1", decision="approve", always_allow=True), ide)
    assert (await ide.until_type("run_finished", 2, within=15))["reason"] == "completed"
    assert (tmp_path / "notes.txt").read_text() == "remember\n"
    assert told(llm, 1, "n-1") == "noted 8 characters"
    # The IDE approved in-band, but the hub ran the call: a result from the IDE is refused.
    await send(live, p.ToolResult(call_id="n-1", result="ran it too"), ide)
    assert ide.of_type("error")[-1]["code"] == "unknown_call"
    # "Always allow" covers the tool: the next call runs without asking.
    llm.push(ToolCalls([("n-2", "mcp__local__write_note", {"text": "again"})]), Text(["Ok."]))
    await say(live, "note again")
    assert (await ide.until_type("run_finished", 3, within=15))["reason"] == "completed"
    assert len(ide.of_type("tool_call")) == 1
    assert (tmp_path / "notes.txt").read_text() == "remember\nagain\n"


async def test_rejected_invalid_and_failing_calls_are_told_to_the_model(
    session: tuple[LiveSession, Recorder], llm: ScriptedLLM, tmp_path: Path
) -> None:
    live, ide = session
    calls = [
        ("r-1", "mcp__local__write_note", {"text": "no"}),
        ("r-2", "mcp__local__lookup", {"word": 3}),
        ("r-3", "mcp__local__fail", {"reason": "disk full"}),
        ("r-4", "mcp__gone__anything", {}),
        ("r-5", "mcp__local__nothing", {}),
    ]
    llm.push(ToolCalls(calls), Text(["I see."]))
    await say(live, "try them all")
    await ide.until_type("tool_call", within=15)
    decision = p.HitlDecision(call_id="r-1", decision="reject", feedback="not now")
    await send(live, decision, ide)
    assert (await ide.until_type("run_finished", 2, within=15))["reason"] == "completed"
    assert "rejected this call: not now" in told(llm, 1, "r-1")
    assert "invalid arguments for mcp__local__lookup: word: 3 is not of type 'string'" in told(
        llm, 1, "r-2"
    )
    assert "failing as asked: disk full" in told(llm, 1, "r-3")
    assert "the MCP server gone is not running" in told(llm, 1, "r-4")
    assert "has no tool 'mcp__local__nothing'; its tools are: " in told(llm, 1, "r-5")
    statuses = {f["call_id"]: f["status"] for f in ide.of_type("tool_finished")}
    assert statuses == {
        "r-1": "rejected",
        "r-2": "failed",
        "r-3": "failed",
        "r-4": "refused",
        "r-5": "refused",
    }
    assert not (tmp_path / "notes.txt").exists()


async def test_an_agent_not_listed_is_neither_offered_the_tools_nor_may_call_them(
    servers: McpServers,
) -> None:
    mounted = MountedCalls(servers, default_policies())
    assert mounted.functions("debug") == []
    debugging = OpenCall("d-1", "mcp__local__lookup", {"word": "x"}, "debug")
    assert mounted.find(debugging) is None
    assert mounted.missing(debugging) == "the debug agent may not use mcp__local__lookup"
    assert {f["function"]["name"] for f in mounted.functions("coder")} >= {"mcp__local__lookup"}
    # In the text format the instructions list them beside the agent's own tools.
    system = model_messages(AGENTS["coder"], [], "text", mounted.functions("coder"))[0]
    assert "- mcp__local__write_note(text: string): Append a note" in system["content"]
    lookup = json.dumps(mounted.functions("coder"))
    assert "mcp__gone" not in lookup
