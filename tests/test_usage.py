"""Token usage end to end: a real hub asks the scripted server for usage, streams a `usage`
frame per model call and per run with the session's totals, stores each call, and serves the
totals (and cost, from the price table) over REST; a server that reports none gives nulls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub import protocol as p
from hub.identity import issue_token
from hub_client import HubClient
from tests.conftest import API_KEY, routed
from tests.hub_process import HubProcess
from tests.scripted_llm import ScriptedLLM, Text

PRICES = '{"prompt": 2.0, "completion": 8.0}'  # USD per million tokens
SECRET = "usage-test-secret-" * 3


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    process = HubProcess(
        tmp_path,
        llm.base_url,
        AGENT_RUNTIME__LLM_PRICES=PRICES,
        AGENT_RUNTIME__AUTH_JWT_SECRET=SECRET,
    ).start()
    yield process
    process.stop()


async def one_turn(hub: HubProcess, session: str, text: str) -> list[p.HubFrame]:
    seen: list[p.HubFrame] = []
    async with HubClient(hub.http_url, session, key=API_KEY) as client, asyncio.timeout(10):
        await client.send_message(text)
        async for frame in client.frames():
            seen.append(frame)
            if isinstance(frame, p.RunFinished):
                return seen
    raise AssertionError("the stream ended")


def cost(prompt: int, completion: int) -> float:
    return round((prompt * 2.0 + completion * 8.0) / 1_000_000, 8)


async def test_usage_frames_and_totals_match_what_the_model_reported(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Text(["hel", "lo"]))
    frames = await one_turn(hub, "counted", "write code")
    routing, answer = llm.reported
    assert llm.requests[1]["stream_options"] == {"include_usage": True}

    usage = [f for f in frames if isinstance(f, p.UsageReport)]
    assert [(u.scope, u.agent) for u in usage] == [
        ("call", "orchestrator"),
        ("call", "coder"),
        ("run", "coder"),
    ]
    for frame, reported in zip(usage, (routing, answer), strict=False):
        assert frame.prompt_tokens == reported["prompt_tokens"]
        assert frame.completion_tokens == reported["completion_tokens"]
        assert frame.total_tokens == reported["total_tokens"]
        assert frame.cost_usd == cost(reported["prompt_tokens"], reported["completion_tokens"])
    prompt = routing["prompt_tokens"] + answer["prompt_tokens"]
    completion = routing["completion_tokens"] + answer["completion_tokens"]
    run = usage[-1]
    assert (run.prompt_tokens, run.completion_tokens, run.model_calls) == (prompt, completion, 2)
    assert run.session.model_calls == 2 and run.session.total_tokens == prompt + completion
    assert frames.index(run) < len(frames) - 1  # before run_finished

    async with httpx.AsyncClient(
        base_url=hub.http_url, headers={"X-Internal-Auth": API_KEY}
    ) as http:
        body = (await http.get("/sessions/counted/usage")).json()
    assert body["totals"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cached_tokens": 0,
        "cost_usd": cost(prompt, completion),
        "model_calls": 2,
        "unreported_calls": 0,
    }
    assert [(c["purpose"], c["agent"], c["prompt_tokens"]) for c in body["calls"]] == [
        ("routing", "orchestrator", routing["prompt_tokens"]),
        ("answer", "coder", answer["prompt_tokens"]),
    ]


async def test_a_model_that_reports_no_usage_is_shown_as_unknown(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.report_usage = False
    llm.push(routed(), Text(["quiet"]))
    frames = await one_turn(hub, "silent", "write code")
    usage = [f for f in frames if isinstance(f, p.UsageReport)]
    assert len(usage) == 3
    for frame in usage:
        assert (frame.prompt_tokens, frame.total_tokens, frame.cost_usd) == (None, None, None)
    assert usage[-1].unreported_calls == 2
    assert usage[-1].session.prompt_tokens is None
    assert usage[-1].session.unreported_calls == 2
    async with httpx.AsyncClient(
        base_url=hub.http_url, headers={"X-Internal-Auth": API_KEY}
    ) as http:
        totals = (await http.get("/sessions/silent/usage")).json()["totals"]
    assert (totals["total_tokens"], totals["cost_usd"], totals["unreported_calls"]) == (
        None,
        None,
        2,
    )


async def test_another_users_usage_is_not_found(hub: HubProcess) -> None:
    def as_user(user: str) -> httpx.AsyncClient:
        token = issue_token(SECRET, user, 600)
        return httpx.AsyncClient(
            base_url=hub.http_url, headers={"Authorization": f"Bearer {token}"}
        )

    async with as_user("alice") as alice, as_user("bob") as bob:
        assert (await alice.post("/sessions", json={"session_id": "alices"})).status_code == 201
        mine = await alice.get("/sessions/alices/usage")
        theirs = await bob.get("/sessions/alices/usage")
    assert mine.status_code == 200 and mine.json()["totals"]["model_calls"] == 0
    assert theirs.status_code == 404
    assert theirs.json()["error"] == "not_found"
