"""`agent-hub serve --demo-llm`: a whole session with nothing else running — no LLM server at
all (the LLM URL points at a closed port) — over the real socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.hub_process import HubProcess, free_port
from tests.socket_client import ide, receive, receive_until, send


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "README.md").write_text("# A project\n")
    nowhere = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: the demo needs no LLM
    process = HubProcess(tmp_path, nowhere, AGENT_RUNTIME__WORKSPACE_ROOT=str(workspace))
    process.start("--demo-llm")
    yield process
    process.stop()


async def turn(ws: ClientConnection, text: str) -> list[dict[str, Any]]:
    await send(ws, type="user_message", content=text, role="user")
    return await receive_until(ws, "run_finished")


def answer(frames: list[dict[str, Any]]) -> str:
    return "".join(f.get("token", "") for f in frames if f["type"] == "assistant_message")


async def test_the_demo_model_streams_approves_and_plans_with_nothing_else_running(
    hub: HubProcess, tmp_path: Path
) -> None:
    async with ide(hub, "demo") as ws:
        await receive(ws)
        hello = await turn(ws, "hello there")
        pieces = [f for f in hello if f["type"] == "assistant_message" and f["token"]]
        assert len(pieces) > 10 and "demo model" in answer(hello)  # streamed word by word
        assert "Try: **write a file**" in answer(hello)

        asked = await turn(ws, "write a file for me")
        (call,) = [f for f in asked if f["type"] == "tool_call"]
        assert (call["tool_name"], call["requires_approval"]) == ("write_file", True)
        await send(ws, type="hitl_decision", call_id=call["call_id"], decision="approve")
        wrote = await receive_until(ws, "run_finished")
        assert "The tool answered: `wrote" in answer(wrote)
        assert "Written by the demo model" in (tmp_path / "workspace" / "demo.md").read_text()

        planned = await turn(ws, "make a plan for the docs")  # the coder hands it on
        switched = [f["to_agent"] for f in planned if f["type"] == "agent_switched"]
        assert switched == ["architect"]
        proposal = next(f for f in planned if f["type"] == "plan_approval_required")
        await send(ws, type="plan_decision", approval_request_id=proposal["plan_id"],
                   decision="approve")  # fmt: skip
        # The coder's step writes demo.md again: its approval comes first.
        step_call = await receive_until(ws, "tool_call")
        await send(ws, type="hitl_decision", call_id=step_call[-1]["call_id"], decision="approve")
        done = await receive_until(ws, "plan_updated", status="done")
        finished = await receive_until(ws, "run_finished")
    assert [s["status"] for s in done[-1]["steps"]] == ["done", "done"]
    assert "demo model" in answer(finished)


async def test_without_a_model_health_says_so_and_the_first_message_names_the_demo(
    tmp_path: Path,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    process = HubProcess(tmp_path, nowhere).start()
    try:
        async with httpx.AsyncClient(base_url=process.http_url) as client:
            health = await client.get("/health")
        async with ide(process, "no-model") as ws:
            await receive(ws)
            frames = await turn(ws, "hello")
    finally:
        process.stop()
    assert (health.status_code, health.json()["llm"]) == (200, "unreachable")
    (error,) = [f for f in frames if f["type"] == "error"]
    assert error["code"] == "llm_error" and "AGENT_RUNTIME__LLM_PROXY_URL" in error["content"]
    assert "--demo-llm" in error["content"]


async def test_the_demo_hub_reports_its_model_as_the_demo(hub: HubProcess) -> None:
    async with httpx.AsyncClient(base_url=hub.http_url) as client:
        assert (await client.get("/health")).json()["llm"] == "demo"
