"""Plans in a live session on real SQLite, the real openai client and the scripted model:
proposed, decided (approved, edited, rejected), run step by step with progress, a step skipped,
a plan cancelled, and a proposal that outlives its session object (a restart)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from agents.llm import OpenAIChatModel
from agents.routing import Router
from agents.run.engine import TurnEngine
from agents.run.plans import PlanRunner
from agents.run.tools import ToolRunner
from db.plans import PlanBook
from db.records import PlanStatus
from db.store import Store
from hub import protocol as p
from hub.session.driver import LiveSession
from tests.frames import Recorder, say, send
from tests.hub_process import HubProcess, unattended_hub
from tests.scripted_llm import Hang, ScriptedLLM, Text, ToolCalls
from tests.socket_client import AUTH, ide, receive, receive_until
from tests.socket_client import send as send_frame
from tools.approval import default_policies

store, book = Store(), PlanBook()
Open = Callable[..., Any]

STEPS = [
    {"title": "Write it", "agent": "coder", "description": "Write hello.py."},
    {"title": "Check it", "agent": "debug", "description": "Look for bugs in hello.py."},
    {"title": "Explain it", "agent": "ask", "description": "Explain hello.py to the user."},
]


DESIGN = {"title": "Design it", "agent": "architect", "description": "Design hello.py."}


def plan_route() -> ToolCalls:
    """The router's answer for a large request: plan it first."""
    arguments = {"agent": "coder", "confidence": 0.8, "reason": "several steps", "plan": True}
    return ToolCalls([("route-1", "route_to_agent", arguments)])


def propose(steps: list[dict[str, str]] = STEPS, call_id: str = "plan-1") -> ToolCalls:
    return ToolCalls([(call_id, "propose_plan", {"title": "Hello", "steps": steps})])


@pytest.fixture
async def open_session(sqlite_db: str, llm: ScriptedLLM) -> AsyncIterator[Open]:
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="sk-test", max_retries=0)
    model = OpenAIChatModel(client, "scripted-model")
    plans = PlanRunner(book)
    tools = ToolRunner(default_policies(), 5, plans=plans)
    engine = TurnEngine(model, Router(model, timeout=5), tools, plans=plans)
    opened: list[LiveSession] = []

    async def open_(session_id: str = "p1") -> tuple[LiveSession, Recorder]:
        stored = await store.get_or_create_session(session_id, "orchestrator")
        live = LiveSession(session_id, stored.current_agent, engine, store)
        await live.restore()
        opened.append(live)
        ide = Recorder()
        await live.attach(ide, "ide")
        return live, ide

    yield open_
    for live in opened:
        await live.close()
    await client.close()


async def until_done(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    """The plan once done, polled over REST (another process runs it)."""
    async with asyncio.timeout(20):
        while (plan := (await client.get(path)).json())["status"] != "done":  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    result: dict[str, Any] = plan
    return result


def statuses(frame: dict[str, Any]) -> list[str]:
    return [s["status"] for s in frame["steps"]]


async def test_a_plan_is_proposed_edited_and_run_step_by_step(
    open_session: Open, llm: ScriptedLLM
) -> None:
    live, ide = await open_session()
    llm.push(plan_route(), propose())
    await say(live, "write, check and explain a hello world")
    asked = await ide.until_type("plan_approval_required", within=10)
    assert (asked["approval_request_id"], asked["plan_id"]) == ("plan-1", "plan-1")
    assert asked["plan_summary"]["steps"] == STEPS
    assert "1. Write it (coder): Write hello.py." in asked["content"]
    assert (await ide.until_type("run_finished"))["reason"] == "waiting"

    # The user drops the debug step and reorders nothing else.
    llm.push(Text(["Wrote hello.py."]), Text(["It prints hello."]), Text(["Done: two steps."]))
    edited = [STEPS[0], STEPS[2]]
    decision = p.PlanDecision.model_validate(
        {"approval_request_id": "plan-1", "decision": "modify", "steps": edited}
    )
    await send(live, decision, ide)
    assert (await ide.until_type("run_finished", 2, within=15))["reason"] == "completed"

    updates = ide.of_type("plan_updated")
    assert [(u["status"], statuses(u)) for u in updates] == [
        ("approved", ["pending", "pending"]),
        ("running", ["running", "pending"]),
        ("running", ["done", "running"]),
        ("done", ["done", "done"]),
    ]
    assert updates[-1]["steps"][0]["result"] == "Wrote hello.py."
    switches = [(s["to_agent"], s["method"]) for s in ide.of_type("agent_switched")]
    assert switches == [("coder", "plan"), ("ask", "plan"), ("orchestrator", "plan")]
    # The second step's brief carries what the first reported; the proposer reads both.
    brief = llm.requests[3]["messages"][-1]["content"]
    assert "Step 2 of 2 of the plan 'Hello': Explain it" in brief
    assert "1. Write it (coder) — done: Wrote hello.py." in brief
    final = llm.requests[4]["messages"][-1]["content"]
    assert "2. Explain it (ask) — done: It prints hello." in final
    told = next(m for m in llm.requests[2]["messages"] if m.get("tool_call_id") == "plan-1")
    assert "approved the plan as edited" in told["content"]
    stored = await book.get("plan-1")
    assert stored is not None and stored.status is PlanStatus.DONE
    assert [s.title for s in stored.steps] == ["Write it", "Explain it"]


async def test_a_rejected_plan_goes_back_to_its_agent_and_decisions_are_checked(
    open_session: Open, llm: ScriptedLLM
) -> None:
    live, ide = await open_session()
    llm.push(plan_route(), propose(), Text(["Then I will do it myself."]))
    await say(live, "a big job")
    await ide.until_type("plan_approval_required", within=10)
    unknown = p.PlanDecision(approval_request_id="nope", decision="approve")
    await send(live, unknown, ide)
    assert ide.of_type("error")[-1]["code"] == "unknown_call"
    no = p.PlanDecision(approval_request_id="plan-1", decision="reject", feedback="too big")
    await send(live, no, ide)
    assert (await ide.until_type("run_finished", 2, within=10))["reason"] == "completed"
    told = next(m for m in llm.requests[2]["messages"] if m.get("tool_call_id") == "plan-1")
    assert told["content"] == "error: the user rejected the plan: too big"
    again = p.PlanDecision(approval_request_id="plan-1", decision="approve")
    await send(live, again, ide)
    assert ide.of_type("error")[-1]["code"] == "already_decided"
    assert ide.of_type("plan_updated")[-1]["status"] == "rejected"


async def test_a_step_not_started_is_skipped_and_a_cancel_ends_the_plan(
    open_session: Open, llm: ScriptedLLM
) -> None:
    live, ide = await open_session()
    llm.push(plan_route(), propose(), Hang(["writing "]))
    await say(live, "the three steps")
    await ide.until_type("plan_approval_required", within=10)
    await send(live, p.PlanDecision(approval_request_id="plan-1", decision="approve"), ide)
    await ide.until(lambda fs: any(f.get("token") == "writing " for f in fs), within=10)
    await send(live, p.PlanStepCommand(plan_id="plan-1", step=1), ide)
    assert statuses(ide.of_type("plan_updated")[-1]) == ["running", "skipped", "pending"]
    await send(live, p.PlanStepCommand(plan_id="plan-1", step=0), ide)  # running: not skipped
    assert ide.of_type("error")[-1]["code"] == "invalid_decision"
    assert "only a pending step can be skipped" in ide.of_type("error")[-1]["content"]
    await send(live, p.Cancel(), ide)
    assert (await ide.until_type("run_finished", 2, within=10))["reason"] == "cancelled"
    llm.release()
    last = ide.of_type("plan_updated")[-1]
    assert (last["status"], statuses(last)) == ("cancelled", ["cancelled", "skipped", "cancelled"])


async def test_a_proposal_waits_through_a_restart_and_is_shown_again(
    open_session: Open, llm: ScriptedLLM
) -> None:
    live, ide = await open_session("p-restart")
    llm.push(plan_route(), propose(STEPS[:1]))
    await say(live, "one step")
    await ide.until_type("plan_approval_required", within=10)
    await ide.until_type("run_finished")
    await live.close()  # the hub stops; the proposal is only rows now

    again, later = await open_session("p-restart")
    reminder = await later.until_type("plan_approval_required")
    assert reminder["plan_id"] == "plan-1" and reminder["plan_summary"]["title"] == "Hello"
    llm.push(Text(["hello.py written"]), Text(["Done."]))
    await send(again, p.PlanDecision(approval_request_id="plan-1", decision="approve"), later)
    assert (await later.until_type("run_finished", within=15))["reason"] == "completed"
    assert ide.of_type("plan_updated") == []  # the first session object saw none of it
    await asyncio.sleep(0)
    stored = await book.get("plan-1")
    assert stored is not None and stored.status is PlanStatus.DONE


async def test_over_a_real_hub_a_plan_is_decided_by_rest_and_listed(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    hub = HubProcess(tmp_path, llm.base_url).start()
    llm.push(plan_route(), propose(STEPS[:2]))
    try:
        async with ide(hub, "rest-plan") as ws:
            await receive(ws)
            await send_frame(ws, type="user_message", content="two steps", role="user")
            frames = await receive_until(ws, "run_finished")
            assert any(f["type"] == "plan_approval_required" for f in frames)
            llm.push(Text(["one done"]), Text(["two done"]), Text(["All done."]))
            async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
                base = "/sessions/rest-plan/plans"
                bad = await client.post(f"{base}/plan-1/decision", json={"decision": "maybe"})
                assert bad.status_code == 422
                ok = await client.post(f"{base}/plan-1/decision", json={"decision": "approve"})
                assert ok.status_code == 200 and ok.json()["run_id"]
                finished = await receive_until(ws, "run_finished")
                assert finished[-1]["reason"] == "completed"
                again = await client.post(f"{base}/plan-1/decision", json={"decision": "reject"})
                assert (again.status_code, again.json()["error"]) == (409, "already_decided")
                listed = (await client.get(base)).json()["plans"]
                skip = await client.post(f"{base}/plan-1/steps/0/skip")
                other = await client.get("/sessions/someone-else/plans/plan-1")
        assert [(p_["plan_id"], p_["status"]) for p_ in listed] == [("plan-1", "done")]
        assert [s["result"] for s in listed[0]["steps"]] == ["one done", "two done"]
        assert skip.status_code == 422 and other.status_code == 404
        text = "".join(f.get("token", "") for f in finished if f["type"] == "assistant_message")
        assert text == "one donetwo doneAll done."  # each step's answer, then the summary
    finally:
        hub.stop()


async def test_a_plan_in_progress_goes_on_after_the_hub_restarts(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    hub = HubProcess(tmp_path, llm.base_url).start()
    llm.push(plan_route(), propose(STEPS[:2]), Hang(["working on "]))
    try:
        async with ide(hub, "restart-plan") as ws:
            await receive(ws)
            await send_frame(ws, type="user_message", content="two steps", role="user")
            await receive_until(ws, "run_finished")
            await send_frame(ws, type="plan_decision", approval_request_id="plan-1",
                             decision="approve")  # fmt: skip
            await receive_until(ws, "assistant_message", token="working on ")
        llm.push(Text(["step one done"]), Text(["step two done"]), Text(["All done."]))
        await asyncio.to_thread(hub.restart)  # SIGTERM while the first step streams
        async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
            plan = await until_done(client, "/sessions/restart-plan/plans/plan-1")
    finally:
        hub.stop()
    assert [s["result"] for s in plan["steps"]] == ["step one done", "step two done"]
    resumed = llm.requests[3]["messages"][-1]
    assert resumed["role"] == "user" and "The hub was restarted" in resumed["content"]


async def test_on_a_hub_workspace_each_step_shows_what_it_changed(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    hub = unattended_hub(tmp_path, llm.base_url, workspace)
    write = ToolCalls([("w-1", "write_file", {"path": "hello.py", "content": "print('hi')\n"})])
    llm.push(plan_route(), propose(STEPS[:2]))
    try:
        async with ide(hub, "diff-plan") as ws:
            await receive(ws)
            await send_frame(ws, type="user_message", content="write and check", role="user")
            await receive_until(ws, "run_finished")
            llm.push(write, Text(["Wrote it."]), Text(["No bugs."]), Text(["Done."]))
            await send_frame(ws, type="plan_decision", approval_request_id="plan-1",
                             decision="approve")  # fmt: skip
            await receive_until(ws, "run_finished")
        async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
            base = "/sessions/diff-plan/plans/plan-1"
            plan = await until_done(client, base)
            wrote = (await client.get(f"{base}/steps/0/diff")).json()["diff"]
            checked = (await client.get(f"{base}/steps/1/diff")).json()["diff"]
            missing = await client.get(f"{base}/steps/5/diff")
    finally:
        hub.stop()
    assert "+print('hi')" in wrote and "hello.py" in wrote
    assert checked == ""  # the debug step changed nothing
    assert missing.status_code == 404
    assert all(s["checkpoint_before"] and s["checkpoint_after"] for s in plan["steps"])


async def test_the_running_step_is_cancelled_alone_and_the_plan_goes_on(
    open_session: Open, llm: ScriptedLLM
) -> None:
    live, ide = await open_session()
    llm.push(plan_route(), propose(STEPS[:2]), Hang(["writing "]))
    await say(live, "two steps")
    await ide.until_type("plan_approval_required", within=10)
    await send(live, p.PlanDecision(approval_request_id="plan-1", decision="approve"), ide)
    await ide.until(lambda fs: any(f.get("token") == "writing " for f in fs), within=10)
    llm.push(Text(["Checked: fine."]), Text(["Step one was cancelled; step two passed."]))
    cancel = p.PlanStepCommand(plan_id="plan-1", step=0, action="cancel")
    outcome = await send(live, cancel, ide)
    assert getattr(outcome, "stopped", False)
    assert (await ide.until_type("run_finished", 3, within=15))["reason"] == "completed"
    llm.release()
    last = ide.of_type("plan_updated")[-1]
    assert (last["status"], statuses(last)) == ("done", ["cancelled", "done"])
    final = llm.requests[-1]["messages"][-1]["content"]
    assert "1. Write it (coder) — cancelled" in final and "2. Check it (debug) — done" in final


async def test_a_cancel_while_a_step_waits_for_an_approval_ends_the_plan(
    open_session: Open, llm: ScriptedLLM
) -> None:
    live, ide = await open_session()
    write = ToolCalls([("w-1", "write_file", {"path": "a.py", "content": "x"})])
    llm.push(plan_route(), propose(STEPS[:2]), write)
    await say(live, "two steps")
    await ide.until_type("plan_approval_required", within=10)
    await send(live, p.PlanDecision(approval_request_id="plan-1", decision="approve"), ide)
    await ide.until_type("tool_call", within=10)
    assert (await ide.until_type("run_finished", 2, within=10))["reason"] == "waiting"
    await send(live, p.Cancel(), ide)
    await ide.until_type("run_finished", 3, within=10)
    last = ide.of_type("plan_updated")[-1]
    assert (last["status"], statuses(last)) == ("cancelled", ["cancelled", "cancelled"])


async def test_a_step_parked_on_an_approval_is_cancelled_alone(
    open_session: Open, llm: ScriptedLLM
) -> None:
    live, ide = await open_session()
    write = ToolCalls([("w-1", "write_file", {"path": "a.py", "content": "x"})])
    llm.push(plan_route(), propose(STEPS[:2]), write)
    await say(live, "two steps")
    await ide.until_type("plan_approval_required", within=10)
    await send(live, p.PlanDecision(approval_request_id="plan-1", decision="approve"), ide)
    assert (await ide.until_type("run_finished", 2, within=10))["reason"] == "waiting"
    llm.push(Text(["Nothing to check."]), Text(["Done."]))
    await send(live, p.PlanStepCommand(plan_id="plan-1", step=0, action="cancel"), ide)
    assert (await ide.until_type("run_finished", 3, within=15))["reason"] == "completed"
    assert ide.of_type("approval_resolved")[-1]["decision"] == "cancelled"
    last = ide.of_type("plan_updated")[-1]
    assert (last["status"], statuses(last)) == ("done", ["cancelled", "done"])


async def test_a_second_proposal_replaces_the_first_and_none_is_made_during_a_plan(
    open_session: Open, llm: ScriptedLLM
) -> None:
    live, ide = await open_session()
    two = ToolCalls(
        [
            ("plan-a", "propose_plan", {"title": "A", "steps": STEPS[:1]}),
            ("plan-b", "propose_plan", {"title": "B", "steps": [DESIGN]}),
        ]
    )
    # B's step (the architect) proposes a plan of its own: refused, it answers instead.
    nested = ToolCalls([("plan-c", "propose_plan", {"title": "C", "steps": STEPS[:1]})])
    llm.push(plan_route(), two)
    await say(live, "plan it twice")
    await ide.until_type("plan_approval_required", 2, within=10)
    assert (await ide.until_type("run_finished"))["reason"] == "waiting"
    withdrawn = ide.of_type("plan_updated")[-1]
    assert (withdrawn["plan_id"], withdrawn["status"]) == ("plan-a", "cancelled")
    a_late = p.PlanDecision(approval_request_id="plan-a", decision="approve")
    await send(live, a_late, ide)
    assert ide.of_type("error")[-1]["code"] == "already_decided"
    llm.push(nested, Text(["Explained."]), Text(["Done."]))
    await send(live, p.PlanDecision(approval_request_id="plan-b", decision="approve"), ide)
    assert (await ide.until_type("run_finished", 2, within=15))["reason"] == "completed"
    refused = next(f for f in ide.of_type("tool_finished") if f["call_id"] == "plan-c")
    assert refused["status"] == "refused" and "'B' is in progress" in refused["content"]
    last = ide.of_type("plan_updated")[-1]
    assert (last["plan_id"], last["status"]) == ("plan-b", "done")
