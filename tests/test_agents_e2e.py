"""Agents, tools and approvals end to end: a real hub process, the `websockets` client, and the
hub's real openai client talking to the scripted LLM server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Fail, ScriptedLLM, Text, ToolCalls
from tests.socket_client import AUTH, ide, receive, receive_until, send


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, llm_server: ScriptedLLM) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path_factory.mktemp("hub"), llm_server.base_url).start()
    yield process
    process.stop()


def api(hub: HubProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=hub.http_url, headers=AUTH)


def call(call_id: str, tool: str, **arguments: Any) -> ToolCalls:
    return ToolCalls([(call_id, tool, arguments)])


def tool_messages(request: dict[str, Any]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in request["messages"] if m["role"] == "tool"}


async def test_the_orchestrator_routes_by_llm_and_the_specialist_answers(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed("architect", "a design question"), Text(["Here is a plan."]))
    async with ide(hub, "route-llm") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="How should we structure the service?")
        frames = await receive_until(ws, "run_finished")
    switched = next(f for f in frames if f["type"] == "agent_switched")
    assert (switched["method"], switched["to_agent"], switched["confidence"]) == (
        "llm",
        "architect",
        "0.90",
    )
    assert llm.requests[0]["tool_choice"]["function"]["name"] == "route_to_agent"
    assert "software architect" in llm.requests[1]["messages"][0]["content"]


@pytest.mark.parametrize(
    ("routing_reply", "message", "agent"),
    [
        (Text(["I would pick the coder"]), "why does the build crash?", "debug"),
        (Fail(500, "router down"), "design the data model", "architect"),
    ],
    ids=["garbage", "http-500"],
)
async def test_routing_falls_back_to_keywords(
    hub: HubProcess, llm: ScriptedLLM, routing_reply: Text | Fail, message: str, agent: str
) -> None:
    llm.push(routing_reply, Text(["ok"]))
    async with ide(hub, f"route-fallback-{agent}") as ws:
        await receive(ws)
        await send(ws, type="user_message", content=message)
        frames = await receive_until(ws, "run_finished")
    switched = next(f for f in frames if f["type"] == "agent_switched")
    assert (switched["method"], switched["to_agent"]) == ("keywords", agent)
    assert frames[-1]["reason"] == "completed"


async def test_the_architect_may_not_write_code_and_the_model_is_told(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(
        routed("architect"),
        call("arch-w1", "write_file", path="src/app.py", content="print()"),
        Text(["Understood, I will write docs instead."]),
    )
    async with ide(hub, "restricted") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="Plan and build it")
        frames = await receive_until(ws, "run_finished")
    assert not [f for f in frames if f["type"] == "tool_call"]  # the IDE never sees it
    finished = next(f for f in frames if f["type"] == "tool_finished")
    assert finished["status"] == "refused"
    assert "may write only Markdown" in finished["content"]
    assert "may write only Markdown" in tool_messages(llm.requests[2])["arch-w1"]
    assert frames[-1]["reason"] == "completed"


async def test_an_ide_reads_a_file_then_approves_a_write_in_band(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(
        routed(),
        call("r1", "read_file", path="app.py"),
        call("w1", "write_file", path="app.py", content="print('new')\n"),
        Text(["Done."]),
    )
    async with ide(hub, "approve-in-band") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="Update app.py")
        read = (await receive_until(ws, "tool_call"))[-1]
        assert (read["tool_name"], read["requires_approval"]) == ("read_file", False)
        await send(ws, type="tool_result", call_id="r1", result="print('old')\n")
        ask = (await receive_until(ws, "tool_call"))[-1]
        assert (ask["call_id"], ask["requires_approval"], ask["agent"]) == ("w1", True, "coder")
        assert "-print('old')" in ask["diff"] and "+print('new')" in ask["diff"]
        await send(ws, type="hitl_decision", call_id="w1", decision="approve")
        resolved = (await receive_until(ws, "approval_resolved"))[-1]
        assert resolved["decided_by"].startswith("ide:")
        # The original's order: the IDE that approved runs the call and sends its result.
        await send(ws, type="tool_result", call_id="w1", result="wrote 13 bytes")
        frames = await receive_until(ws, "run_finished", reason="completed")
    assert not [f for f in frames if f["type"] == "tool_call"]  # not sent again
    assert tool_messages(llm.requests[3]) == {"r1": "print('old')\n", "w1": "wrote 13 bytes"}


async def test_an_edit_from_another_client_is_sent_to_the_ide_to_run(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), call("c1", "execute_command", command="rm -rf build"), Text(["ok"]))
    async with ide(hub, "edit") as ws, ide(hub, "edit", "?client=console") as console:
        await receive(ws)
        await receive(console)
        await send(ws, type="user_message", content="clean the build")
        await receive_until(console, "tool_call")
        await send(
            console,
            type="hitl_decision",
            call_id="c1",
            decision="edit",
            modified_arguments={"command": "rm -rf build/tmp"},
        )
        resent = (await receive_until(ws, "tool_call", requires_approval=False))[-1]
        assert resent["arguments"]["command"] == "rm -rf build/tmp"
        await send(ws, type="hitl_decision", call_id="c1", decision="reject")
        late = (await receive_until(ws, "error"))[-1]
        assert late["code"] == "already_decided"
        await send(ws, type="tool_result", call_id="c1", result="exit code 0")
        await receive_until(ws, "run_finished", reason="completed")
    async with api(hub) as client:
        audit = (await client.get("/sessions/edit/approvals/c1")).json()["decisions"]
    assert [(d["decision"], d["accepted"]) for d in audit] == [
        ("edited", True),
        ("rejected", False),
    ]
    assert audit[0]["decided_by"].startswith("console:")


async def test_a_rejection_and_its_feedback_reach_the_model(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), call("c2", "execute_command", command="git push -f"), Text(["Sorry."]))
    async with ide(hub, "reject") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="ship it")
        await receive_until(ws, "tool_call")
        await send(
            ws, type="hitl_decision", call_id="c2", decision="reject", feedback="never force-push"
        )
        frames = await receive_until(ws, "run_finished", reason="completed")
    assert next(f for f in frames if f["type"] == "tool_finished")["status"] == "rejected"
    assert "never force-push" in tool_messages(llm.requests[2])["c2"]


async def test_an_approval_answered_over_rest_while_the_ide_is_away(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), call("d1", "create_directory", path="docs"), Text(["Created."]))
    async with ide(hub, "rest-approval") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="make a docs folder")
        await receive_until(ws, "run_finished", reason="waiting")
    async with api(hub) as client:
        pending = (await client.get("/sessions/rest-approval/pending-approvals")).json()
        assert [a["call_id"] for a in pending["approvals"]] == ["d1"]
        decided = await client.post(
            "/sessions/rest-approval/approvals/d1", json={"decision": "approve"}
        )
        assert decided.status_code == 200
        again = await client.post(
            "/sessions/rest-approval/approvals/d1", json={"decision": "approve"}
        )
        assert (again.status_code, again.json()["error"]) == (409, "already_decided")
    async with ide(hub, "rest-approval") as ws:
        ready = await receive(ws)
        assert ready["pending_approvals"] == []
        resent = await receive(ws)  # the call waits for an IDE to run it
        assert (resent["type"], resent["call_id"], resent["requires_approval"]) == (
            "tool_call",
            "d1",
            False,
        )
        await send(ws, type="tool_result", call_id="d1", result="created docs/")
        frames = await receive_until(ws, "run_finished", reason="completed")
    assert "Created." in "".join(f.get("token", "") for f in frames)


async def test_always_allow_rules_skip_the_question_until_revoked(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(
        routed(),
        call("t1", "execute_command", command="npm test"),
        Text(["green"]),
        call("t2", "execute_command", command="npm test -- --watch=false"),
        Text(["green again"]),
    )
    async with ide(hub, "allow") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="run the tests")
        await receive_until(ws, "tool_call")
        await send(ws, type="hitl_decision", call_id="t1", decision="approve", always_allow=True)
        await send(ws, type="tool_result", call_id="t1", result="exit code 0")
        await receive_until(ws, "run_finished", reason="completed")
        await send(ws, type="user_message", content="and again")
        second = (await receive_until(ws, "tool_call"))[-1]
        assert (second["call_id"], second["requires_approval"]) == ("t2", False)
        await send(ws, type="tool_result", call_id="t2", result="exit code 0")
        await receive_until(ws, "run_finished", reason="completed")
    async with api(hub) as client:
        rules = (await client.get("/sessions/allow/allow-rules")).json()["rules"]
        assert [(r["tool_name"], r["pattern"]) for r in rules] == [("execute_command", "npm test")]
        deleted = await client.delete(f"/sessions/allow/allow-rules/{rules[0]['id']}")
        assert deleted.status_code == 204
        assert (await client.get("/sessions/allow/allow-rules")).json()["rules"] == []


async def test_sse_clients_drive_tools_and_approvals_post_by_post(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), call("s1", "write_file", path="NOTES.md", content="hi"), Text(["Saved."]))

    async def post(body: dict[str, Any]) -> list[str]:
        async with api(hub) as client:
            response = await client.post(
                "/agent/message/stream", json={"session_id": "sse-tools", **body}
            )
        assert response.status_code == 200, response.text
        return [line for line in response.text.split("\n\n") if line]

    first = await post({"role": "user", "content": "take a note"})
    assert '"type":"tool_call","call_id":"s1"' in first[-2]
    assert '"requires_approval":true' in first[-2]
    assert first[-1] == "data: [DONE]"
    second = await post({"type": "hitl_decision", "call_id": "s1", "decision": "approve"})
    assert '"requires_approval":false' in second[0]
    assert second[-1] == "data: [DONE]"
    third = await post({"type": "tool_result", "call_id": "s1", "result": "wrote 2 bytes"})
    assert third[0] == 'data: {"token":"Saved.","is_final":false,"type":"assistant_message"}'
    assert third[-1] == "data: [DONE]"
    async with api(hub) as client:
        late = await client.post(
            "/agent/message/stream",
            json={"session_id": "sse-tools", "type": "tool_result", "call_id": "s1"},
        )
    assert (late.status_code, late.json()["error"]) == (404, "unknown_call")


async def test_an_approval_survives_a_restart_of_the_hub(tmp_path: Path, llm: ScriptedLLM) -> None:
    hub = HubProcess(tmp_path, llm.base_url).start()
    try:
        llm.push(routed(), call("k1", "execute_command", command="make deploy"), Text(["Live."]))
        async with ide(hub, "restart") as ws:
            await receive(ws)
            await send(ws, type="user_message", content="deploy")
            await receive_until(ws, "run_finished", reason="waiting")
        hub.restart()
        async with ide(hub, "restart") as ws:
            ready = await receive(ws)
            assert [a["call_id"] for a in ready["pending_approvals"]] == ["k1"]
            asked = await receive(ws)
            assert (asked["type"], asked["requires_approval"]) == ("tool_call", True)
            await send(ws, type="hitl_decision", call_id="k1", decision="approve")
            await send(ws, type="tool_result", call_id="k1", result="exit code 0")
            frames = await receive_until(ws, "run_finished", reason="completed")
    finally:
        hub.stop()
    assert "Live." in "".join(f.get("token", "") for f in frames)
