"""Routing: the keyword fallback as a table, and the LLM router against the scripted server."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from agents.llm import LLMError, OpenAIChatModel
from agents.routing import (
    ROUTE_FUNCTION,
    SYSTEM_PROMPT,
    Router,
    RoutingDecision,
    route_by_keywords,
)
from agents.usage import Usage
from tests.scripted_llm import Cut, Fail, Hang, Reply, ScriptedLLM, Text, ToolCalls


@pytest.mark.parametrize(
    ("message", "agent", "keyword"),
    [
        ("explain how to fix this bug", "coder", "fix"),  # coder's list is checked first
        ("why does it crash", "debug", "why"),
        ("what is a monad", "ask", "what is"),
        ("What   IS a monad?", "ask", "what is"),
        ("design the schema", "architect", "design"),
        ("Please IMPLEMENT the parser", "coder", "implement"),
        ("fixing the tests", "coder", "fix"),
        ("the service keeps crashing", "debug", "crash"),
        ("how does the cache work", "ask", "how does"),
        ("can you help me", "ask", "help"),
        ("draft a blueprint", "architect", "blueprint"),
    ],
)
def test_keywords(message: str, agent: str, keyword: str) -> None:
    decision = route_by_keywords(message)
    assert decision == RoutingDecision(agent, f"keyword {keyword!r} matched", "keywords", 0.5)


@pytest.mark.parametrize("message", ["hello", "prefix", "somewhat isolated", "", "hotfix"])
def test_no_keyword_means_default_coder(message: str) -> None:
    assert route_by_keywords(message) == RoutingDecision(
        "coder", "no keyword matched; default", "keywords", 0.3
    )


def test_route_function_lists_specialists() -> None:
    assert ROUTE_FUNCTION["name"] == "route_to_agent"
    for name in ("coder", "architect", "debug", "ask"):
        assert f"- {name}: " in ROUTE_FUNCTION["description"]
    assert "orchestrator" not in ROUTE_FUNCTION["description"]
    params = ROUTE_FUNCTION["parameters"]
    assert params["properties"]["agent"]["enum"] == ["coder", "architect", "debug", "ask"]
    assert params["properties"]["confidence"]["minimum"] == 0
    assert params["properties"]["confidence"]["maximum"] == 1
    assert set(params["required"]) == {"agent", "confidence", "reason"}


@pytest.fixture
async def model(llm_server: ScriptedLLM) -> AsyncIterator[OpenAIChatModel]:
    client = openai.AsyncOpenAI(base_url=llm_server.base_url, api_key="x", max_retries=0)
    try:
        yield OpenAIChatModel(client, "scripted-model")
    finally:
        await client.close()


def _route(agent: Any, confidence: Any, reason: Any = "fits") -> ToolCalls:
    args = {"agent": agent, "confidence": confidence, "reason": reason}
    return ToolCalls([("r1", "route_to_agent", args)])


async def test_llm_decision(llm: ScriptedLLM, model: OpenAIChatModel) -> None:
    llm.push(_route("architect", 0.9, "It asks for a design."))
    context: list[dict[str, Any]] = [
        {"role": "user", "content": "we need a job queue"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "t"}]},
        {"role": "tool", "tool_call_id": "t", "content": "file listing"},
        {"role": "assistant", "content": "Which backend?"},
    ]
    decision = await Router(model).route("postgres, please fix it up", context)
    # The scripted server reports one prompt token per message and one per chunk it sent.
    reported = Usage(prompt_tokens=2, completion_tokens=2)
    assert decision == RoutingDecision(
        "architect", "It asks for a design.", "llm", 0.9, reported, asked_model=True
    )

    [request] = llm.requests
    assert request.get("stream", False) is False
    assert request["tool_choice"] == {"type": "function", "function": {"name": "route_to_agent"}}
    assert request["tools"] == [{"type": "function", "function": ROUTE_FUNCTION}]
    system, user = request["messages"]
    assert system["role"] == "system"
    assert user["content"] == (
        "Recent conversation:\nuser: we need a job queue\nassistant: Which backend?\n\n"
        "New request:\npostgres, please fix it up"
    )


async def test_only_recent_context_is_sent(llm: ScriptedLLM, model: OpenAIChatModel) -> None:
    llm.push(_route("ask", 0.7))
    context = [{"role": "user", "content": f"message {i}"} for i in range(25)]
    await Router(model).route("and now?", context)
    content = llm.requests[0]["messages"][-1]["content"]
    assert "message 14\n" not in content
    assert all(f"message {i}\n" in content for i in range(15, 25))


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        pytest.param(Text(["I think coder"]), "without calling route_to_agent", id="prose"),
        pytest.param(Fail(500), "HTTP 500", id="http-500"),
        pytest.param(_route("wizard", 0.8), "agent:", id="unknown-agent"),
        pytest.param(_route("orchestrator", 0.8), "agent:", id="orchestrator"),
        pytest.param(_route("debug", 7), "confidence:", id="confidence-7"),
        pytest.param(_route("debug", 0.8, "  "), "reason:", id="blank-reason"),
        pytest.param(
            ToolCalls([("r1", "switch_mode", {"mode": "debug"})]), "switch_mode", id="wrong-name"
        ),
        pytest.param(Cut(["{"]), "APIConnectionError", id="connection-cut"),
    ],
)
async def test_bad_answers_fall_back_to_keywords(
    llm: ScriptedLLM,
    model: OpenAIChatModel,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    cause: str,
) -> None:
    llm.push(reply)
    with caplog.at_level(logging.WARNING, logger="agents.routing"):
        decision = await Router(model).route("why does it crash", [])
    expected = RoutingDecision("debug", "keyword 'why' matched", "keywords", 0.5, asked_model=True)
    assert dataclasses.replace(decision, usage=None) == expected
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert cause in record.getMessage()


async def test_slow_answer_falls_back(
    llm: ScriptedLLM, model: OpenAIChatModel, caplog: pytest.LogCaptureFixture
) -> None:
    # Hang stalls until the `llm` fixture releases it, so nothing lingers after the test.
    llm.push(Hang(["coder"]))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="agents.routing"):
        decision = await Router(model, timeout=0.3).route("design the schema", [])
    assert time.monotonic() - started < 1.5
    assert decision.method == "keywords"
    assert decision.agent == "architect"
    assert "did not answer within 0.3s" in caplog.records[0].getMessage()


async def test_call_function_returns_arguments(llm: ScriptedLLM, model: OpenAIChatModel) -> None:
    function = {"name": "pick", "parameters": {"type": "object", "properties": {}}}
    llm.push(
        ToolCalls([("a", "other", {"x": 1}), ("b", "pick", {"n": [1, 2]})], text_chunks=["hm"])
    )
    call = await model.call_function([{"role": "user", "content": "go"}], function, 5)
    assert call.arguments == {"n": [1, 2]}
    assert call.usage == Usage(prompt_tokens=1, completion_tokens=3)
    llm.push(Fail(404, "no such model"))
    with pytest.raises(LLMError, match="HTTP 404: .*no such model"):
        await model.call_function([{"role": "user", "content": "go"}], function, 5)


@pytest.mark.parametrize(
    ("request_text", "answer", "why"),
    [
        ("explain this", _route("ask", 1.0, "]["), "no words"),
        ("explain this", _route("ask", 1.0, SYSTEM_PROMPT[:60]), "repeats the routing"),
        ("create a file notes.md with hello", _route("debug", 1.0, "A file."), "may not write"),
        ("please fix the bug in app.py", _route("ask", 0.8, "A question."), "may not write"),
    ],
)
async def test_an_unsound_routing_answer_falls_back_to_the_keywords_saying_so(
    llm: ScriptedLLM,
    model: OpenAIChatModel,
    caplog: pytest.LogCaptureFixture,
    request_text: str,
    answer: ToolCalls,
    why: str,
) -> None:
    llm.push(answer)
    decision = await Router(model).route(request_text, [])
    assert dataclasses.replace(decision, usage=None, asked_model=False) == route_by_keywords(
        request_text
    )
    assert decision.method == "keywords"
    assert decision.usage is not None  # the call was made, and is counted
    assert why in caplog.text


async def test_a_read_only_specialist_is_fine_for_a_request_that_changes_nothing(
    llm: ScriptedLLM, model: OpenAIChatModel
) -> None:
    llm.push(_route("debug", 0.7, "It asks why the app crashes."))
    decision = await Router(model).route("why does app.py crash on start?", [])
    assert (decision.agent, decision.method) == ("debug", "llm")
