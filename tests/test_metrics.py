"""`GET /metrics` scraped from a real hub and parsed with prometheus_client's own parser,
after a scripted turn, an approval, a cancel and a model error: the counts are what happened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import routed
from tests.hub_process import HubProcess
from tests.prometheus import scrape, value
from tests.scripted_llm import Fail, Hang, ScriptedLLM, Text, ToolCalls
from tests.socket_client import ide, receive, receive_until, send


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path, llm.base_url).start()
    yield process
    process.stop()


async def test_metrics_count_turns_approvals_cancels_model_calls_and_sockets(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    write = ToolCalls([("m-1", "write_file", {"path": "a.md", "content": "x"})])
    llm.push(routed(), Text(["Hello ", "there."]), write, Text(["Written."]), Hang(["Thinking"]))
    llm.push(Fail(503, "overloaded"))
    async with ide(hub, "metered") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="hi", role="user")
        await receive_until(ws, "run_finished")
        await send(ws, type="user_message", content="write a.md", role="user")
        await receive_until(ws, "run_finished")
        waiting = await scrape(hub)
        await send(ws, type="hitl_decision", call_id="m-1", decision="approve")
        await receive_until(ws, "run_finished")  # approved in-band: the IDE runs it
        await send(ws, type="tool_result", call_id="m-1", result="wrote a.md")
        await receive_until(ws, "run_finished", reason="completed")
        await send(ws, type="user_message", content="think", role="user")
        await receive_until(ws, "assistant_message", token="Thinking")
        await send(ws, type="cancel")
        await receive_until(ws, "run_finished", reason="cancelled")
        await send(ws, type="user_message", content="again", role="user")
        await receive_until(ws, "run_finished", reason="error")
        connected = await scrape(hub)
    llm.release()
    runs = "agent_hub_runs_total"
    assert value(connected, runs, agent="coder", reason="completed") == 2
    assert value(connected, runs, agent="coder", reason="waiting") == 2
    assert value(connected, runs, agent="coder", reason="cancelled") == 1
    assert value(connected, runs, agent="coder", reason="error") == 1
    calls = "agent_hub_model_call_seconds_count"
    assert value(connected, calls, purpose="routing", outcome="ok") == 1
    assert value(connected, calls, purpose="answer", outcome="ok") == 3
    assert value(connected, calls, purpose="answer", outcome="cancelled") == 1
    assert value(connected, calls, purpose="answer", outcome="error") == 1
    assert value(connected, "agent_hub_llm_errors_total", kind="http_5xx") == 1  # the 503
    assert value(connected, "agent_hub_bus_lag_seconds_count") == 0  # one process, no bus
    assert value(connected, "agent_hub_time_to_first_token_seconds_count") == 3
    assert value(connected, "agent_hub_approval_wait_seconds_count", decision="approve") == 1
    assert value(waiting, "agent_hub_approvals_pending") == 1
    assert value(connected, "agent_hub_approvals_pending") == 0
    assert value(connected, "agent_hub_sessions_live") == 1
    assert value(connected, "agent_hub_sockets_open", client="ide") == 1
    assert value(connected, "agent_hub_attaches_total", outcome="fresh") == 1
    assert value(connected, "agent_hub_frames_sent_total", type="tool_call") == 1
    assert (
        value(connected, "agent_hub_token_frames_total") == 4
    )  # Hello, there., Written., Thinking
    after = await scrape(hub)
    assert value(after, "agent_hub_sockets_open", client="ide") == 0


async def test_metrics_need_the_internal_key(hub: HubProcess) -> None:
    async with httpx.AsyncClient(base_url=hub.http_url) as client:
        refused = await client.get("/metrics")
    assert (refused.status_code, refused.json()["error"]) == (401, "unauthorized")
