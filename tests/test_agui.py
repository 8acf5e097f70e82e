"""`POST /ag-ui` against the in-process hub: every event parsed and validated by `ag_ui.core`,
a run streamed, an approval as an interrupt answered by the next run's `resume`, a tool the
client runs, a failure as RUN_ERROR."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ag_ui import core as ag
from pydantic import TypeAdapter

from hub.app import create_app
from hub.config import Settings
from tests.conftest import API_KEY, in_process_client, routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Fail, ScriptedLLM, Text, ToolCalls
from tools.approval import ToolPolicy

EVENTS: TypeAdapter[ag.Event] = TypeAdapter(ag.Event)


def run_input(thread: str, run: str, **fields: Any) -> dict[str, Any]:
    body = {"threadId": thread, "runId": run, "state": {}, "messages": [], "tools": [],
            "context": [], "forwardedProps": {}}  # fmt: skip
    return body | fields


def user(text: str, message_id: str = "u1") -> dict[str, Any]:
    return {"id": message_id, "role": "user", "content": text}


async def events(client: httpx.AsyncClient, body: dict[str, Any]) -> list[Any]:
    response = await client.post("/ag-ui", json=body, headers={"Accept": "text/event-stream"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = [c for c in response.text.split("\n\n") if c.strip()]
    assert all(c.startswith("data: ") for c in chunks)
    return [EVENTS.validate_json(c.removeprefix("data: ")) for c in chunks]


def kinds(stream: list[Any]) -> list[str]:
    """The event types, without the hub's custom `usage` events (see the first test)."""
    return [e.type.value for e in stream if not isinstance(e, ag.CustomEvent)]


async def test_a_run_streams_text_and_steps(
    app_client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.push(routed("ask", "a question"), Text(["Hello, ", "world"]))
    stream = await events(app_client, run_input("ag-1", "r1", messages=[user("hi there")]))
    assert kinds(stream) == [
        "RUN_STARTED", "STEP_STARTED", "STEP_FINISHED", "STEP_STARTED",
        "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END",
        "STEP_FINISHED", "RUN_FINISHED",
    ]  # fmt: skip
    assert [e.step_name for e in stream if isinstance(e, ag.StepStartedEvent)] == [
        "orchestrator", "ask"
    ]  # fmt: skip
    text = "".join(e.delta for e in stream if isinstance(e, ag.TextMessageContentEvent))
    assert text == "Hello, world"
    finished = stream[-1]
    assert (finished.thread_id, finished.run_id, finished.outcome.type) == ("ag-1", "r1", "success")
    usage = [e.value for e in stream if isinstance(e, ag.CustomEvent) and e.name == "usage"]
    assert [u["scope"] for u in usage] == ["call", "call", "run"]
    assert [u["prompt_tokens"] for u in usage[:2]] == [r["prompt_tokens"] for r in llm.reported]
    assert usage[-1]["session"]["total_tokens"] == sum(r["total_tokens"] for r in llm.reported)


async def test_an_approval_is_an_interrupt_that_the_next_run_resumes(
    app_client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    write = ToolCalls([("w-1", "write_file", {"path": "a.md", "content": "x"})])
    llm.push(routed(), write)
    asked = await events(app_client, run_input("ag-2", "r1", messages=[user("write code")]))
    (interrupt,) = asked[-1].outcome.interrupts
    assert (interrupt.id, interrupt.tool_call_id, interrupt.reason) == (
        "w-1",
        "w-1",
        "tool_approval",
    )
    start = next(e for e in asked if isinstance(e, ag.ToolCallStartEvent))
    assert start.tool_call_name == "write_file"

    # Approved: the call goes to the client to run (this hub has no workspace of its own).
    resume = [{"interruptId": "w-1", "status": "resolved", "payload": {"decision": "approve"}}]
    approved = await events(app_client, run_input("ag-2", "r2", resume=resume))
    assert approved[-1].outcome.type == "success"
    assert approved[-1].outcome.pending_tool_call_ids == ["w-1"]

    llm.push(Text(["saved"]))
    result = {"id": "t1", "role": "tool", "toolCallId": "w-1", "content": "wrote a.md"}
    done = await events(app_client, run_input("ag-2", "r3", messages=[user("write code"), result]))
    assert "".join(e.delta for e in done if isinstance(e, ag.TextMessageContentEvent)) == "saved"
    told = llm.requests[-1]["messages"][-1]
    assert told == {"role": "tool", "tool_call_id": "w-1", "content": "wrote a.md"}


async def test_an_interrupt_nobody_answers_expires_and_a_late_resume_is_refused(
    settings: Settings, llm: ScriptedLLM
) -> None:
    policies = {"write_file": ToolPolicy(ask=True, timeout_seconds=0.5)}
    app = create_app(settings.model_copy(update={"approval_policy": policies}))
    write = ToolCalls([("w-9", "write_file", {"path": "a.md", "content": "x"})])
    llm.push(routed(), write, Text(["too late, then"]))
    async with (
        app.router.lifespan_context(app),
        in_process_client(app) as client,
    ):
        asked = await events(client, run_input("ag-exp", "r1", messages=[user("write code")]))
        (interrupt,) = asked[-1].outcome.interrupts
        assert interrupt.expires_at is not None  # the client can show the deadline
        await asyncio.sleep(1.5)  # the approval expires; the turn goes on without the call
        resume = [{"interruptId": "w-9", "status": "resolved", "payload": {"decision": "approve"}}]
        response = await client.post("/ag-ui", json=run_input("ag-exp", "r2", resume=resume))
        snapshot = await events(client, run_input("ag-exp", "r3"))
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "already_decided"
    (messages,) = [e for e in snapshot if isinstance(e, ag.MessagesSnapshotEvent)]
    told = [m for m in messages.messages if m.role == "tool"]
    assert told[-1].content == "error: nobody approved this call in time"
    assert messages.messages[-1].content == "too late, then"


async def test_an_edit_in_the_resume_changes_what_runs(
    app_client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.push(routed(), ToolCalls([("e-1", "write_file", {"path": "a.md", "content": "draft"})]))
    await events(app_client, run_input("ag-7", "r1", messages=[user("write code")]))
    payload = {"decision": "edit", "arguments": {"content": "final"}}
    resume = [{"interruptId": "e-1", "status": "resolved", "payload": payload}]
    edited = await events(app_client, run_input("ag-7", "r2", resume=resume))
    (args,) = [e for e in edited if isinstance(e, ag.ToolCallArgsEvent)]
    assert json.loads(args.delta) == {"path": "a.md", "content": "final"}
    assert edited[-1].outcome.pending_tool_call_ids == ["e-1"]


async def test_a_rejected_interrupt_tells_the_model_and_a_failure_is_run_error(
    app_client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.push(routed(), ToolCalls([("w-2", "write_file", {"path": "b.md", "content": "x"})]))
    await events(app_client, run_input("ag-3", "r1", messages=[user("write code")]))
    llm.push(Fail(503, "overloaded"))
    resume = [{"interruptId": "w-2", "status": "cancelled"}]
    failed = await events(app_client, run_input("ag-3", "r2", resume=resume))
    result = next(e for e in failed if isinstance(e, ag.ToolCallResultEvent))
    assert result.tool_call_id == "w-2" and "rejected" in result.content
    assert isinstance(failed[-1], ag.RunErrorEvent) and failed[-1].code == "llm_error"


async def test_bad_input_is_a_json_error(app_client: httpx.AsyncClient) -> None:
    missing = await app_client.post("/ag-ui", json={"threadId": "x"})
    assert (missing.status_code, missing.json()["error"]) == (422, "invalid_request")
    bad_thread = await app_client.post(
        "/ag-ui", json=run_input("no spaces", "r", messages=[user("x")])
    )
    assert bad_thread.status_code == 422
    system_only = run_input("ag-4", "r", messages=[{"id": "s", "role": "system", "content": "x"}])
    nothing = await app_client.post("/ag-ui", json=system_only)
    assert nothing.status_code == 422 and "user message" in nothing.json()["detail"]


async def test_a_run_without_messages_gets_the_thread_as_a_snapshot(
    app_client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.push(routed(), ToolCalls([("s-1", "read_file", {"path": "a.py"})]))
    await events(app_client, run_input("ag-5", "r1", messages=[user("read a.py")]))
    tool = {"id": "t", "role": "tool", "toolCallId": "s-1", "content": "print(1)"}
    llm.push(Text(["It prints 1."]))
    await events(app_client, run_input("ag-5", "r2", messages=[user("read a.py"), tool]))
    stream = await events(app_client, run_input("ag-5", "r3"))  # a reloaded page
    assert kinds(stream) == [
        "RUN_STARTED", "STEP_STARTED", "MESSAGES_SNAPSHOT", "STEP_FINISHED", "RUN_FINISHED"
    ]  # fmt: skip
    messages = stream[2].messages
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1].tool_calls[0].function.name == "read_file"
    assert (messages[2].tool_call_id, messages[3].content) == ("s-1", "It prints 1.")


CLIENT_DIR = Path(__file__).parent / "agui_client"


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path, llm.base_url).start()
    yield process
    process.stop()


async def test_the_official_javascript_client_runs_a_turn_and_an_interrupt(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    node = shutil.which("node")
    if node is None or not (CLIENT_DIR / "node_modules" / "@ag-ui" / "client").is_dir():
        why = "needs Node and `npm ci --prefix tests/agui_client` (.ci/run does both)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the AG-UI JavaScript client is required in CI: {why}")
        pytest.skip(why)
    write = ToolCalls([("js-w", "write_file", {"path": "a.md", "content": "x"})])
    llm.push(routed(), write, Text(["Left as it is."]))
    process = await asyncio.create_subprocess_exec(
        node, "consume.mjs", hub.http_url, API_KEY, "ag-js", cwd=CLIENT_DIR,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    first, second = (json.loads(line) for line in out.decode().splitlines())
    assert first["types"][0] == "RUN_STARTED" and first["types"][-1] == "RUN_FINISHED"
    assert [i["id"] for i in first["outcome"]["interrupts"]] == ["js-w"]
    assert "TOOL_CALL_START" in first["types"]
    assert "TOOL_CALL_RESULT" in second["types"] and second["outcome"]["type"] == "success"
    assert second["text"] == "Left as it is."


async def test_a_tool_the_client_supplies_is_offered_and_run_by_the_client(
    app_client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    when = {"type": "object", "properties": {"when": {"type": "string"}}}
    confirm = {"name": "confirm_booking", "description": "Ask to confirm", "parameters": when}
    llm.push(routed("ask", "a question"), ToolCalls([("f-1", "confirm_booking", {"when": "9am"})]))
    body = run_input("ag-6", "r1", messages=[user("book it")], tools=[confirm])
    asked = await events(app_client, body)
    offered = [t["function"]["name"] for t in llm.requests[-1]["tools"]]
    assert "confirm_booking" in offered and "read_file" in offered
    start = next(e for e in asked if isinstance(e, ag.ToolCallStartEvent))
    assert start.tool_call_name == "confirm_booking"
    assert asked[-1].outcome.pending_tool_call_ids == ["f-1"]  # no approval: the client runs it

    llm.push(Text(["Booked for 9am."]))
    answer = {"id": "t", "role": "tool", "toolCallId": "f-1", "content": "confirmed"}
    done = await events(app_client, run_input("ag-6", "r2", messages=[user("book it"), answer]))
    assert "".join(e.delta for e in done if isinstance(e, ag.TextMessageContentEvent)) == (
        "Booked for 9am."
    )
    told = llm.requests[-1]["messages"][-1]
    assert (told["role"], told["content"]) == ("tool", "confirmed")
