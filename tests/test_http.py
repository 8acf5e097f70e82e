"""REST, auth, schema and the seed-compatible SSE endpoint, in-process over httpx."""

from __future__ import annotations

from pathlib import Path

import httpx
import jsonschema
import pytest
from starlette.applications import Starlette

from hub import protocol
from hub.config import Settings
from tests.conftest import API_KEY, routed
from tests.scripted_llm import Fail, ScriptedLLM, Text, ToolCalls

PROTECTED = [
    ("GET", "/agents"),
    ("GET", "/agents/s1/current"),
    ("GET", "/sessions"),
    ("POST", "/sessions"),
    ("GET", "/sessions/s1/history"),
    ("GET", "/sessions/s1/pending-approvals"),
    ("POST", "/sessions/s1/cancel"),
    ("GET", "/protocol/schema.json"),
    ("POST", "/auth/ws-ticket"),
    ("POST", "/agent/message/stream"),
]


async def test_health_needs_no_key_and_reports_the_database(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/health", headers={"X-Internal-Auth": ""})
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": "0.1.0",
        "protocol_version": protocol.PROTOCOL_VERSION,
        "database": "reachable",
        "llm": "reachable",  # the scripted model answers
    }


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("key", [None, "wrong-key", API_KEY + "x"])
async def test_every_other_endpoint_refuses_a_missing_or_wrong_key(
    app: Starlette,
    method: str,
    path: str,
    key: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {} if key is None else {"X-Internal-Auth": key}
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://hub")
    async with client:
        response = await client.request(method, path, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "X-Internal-Auth" in caplog.text
    assert API_KEY not in caplog.text and (key is None or key not in caplog.text)


async def test_agents_are_listed_with_tools_and_write_policy(app_client: httpx.AsyncClient) -> None:
    body = (await app_client.get("/agents")).json()
    assert [a["name"] for a in body["agents"]] == [
        "orchestrator",
        "coder",
        "architect",
        "debug",
        "ask",
    ]
    policies = {a["name"]: a["write_policy"] for a in body["agents"]}
    assert policies == {
        "orchestrator": "read_only",
        "coder": "any",
        "architect": "markdown_only",
        "debug": "read_only",
        "ask": "read_only",
    }
    assert body["default_agent"] == "orchestrator"


async def test_sessions_are_created_listed_and_paged(app_client: httpx.AsyncClient) -> None:
    for name in ("a", "b", "c"):
        created = await app_client.post("/sessions", json={"session_id": name})
        assert created.status_code == 201
        assert created.json()["current_agent"] == "orchestrator"
    assert (await app_client.post("/sessions", json={"session_id": "a"})).status_code == 409
    generated = await app_client.post("/sessions")
    assert generated.status_code == 201 and generated.json()["session_id"]

    first = (await app_client.get("/sessions", params={"limit": 2})).json()
    assert [s["session_id"] for s in first["sessions"]] == [generated.json()["session_id"], "c"]
    rest = await app_client.get("/sessions", params={"limit": 2, "before": first["next_before"]})
    assert [s["session_id"] for s in rest.json()["sessions"]] == ["b", "a"]
    assert (await app_client.get("/agents/a/current")).json() == {
        "session_id": "a",
        "agent": "orchestrator",
    }


@pytest.mark.parametrize(
    ("request_args", "status", "code"),
    [
        (("POST", "/sessions", {"content": b"{nope"}), 400, "invalid_json"),
        (("POST", "/sessions", {"json": {"session_id": "no spaces"}}), 422, "invalid_request"),
        (("GET", "/sessions/nope/history", {}), 404, "not_found"),
        (("GET", "/agents/nope/current", {}), 404, "not_found"),
        (("GET", "/sessions/nope/pending-approvals", {}), 404, "not_found"),
        (("GET", "/sessions", {"params": {"limit": "0"}}), 400, "bad_request"),
        (("GET", "/sessions", {"params": {"before": "yesterday"}}), 400, "bad_request"),
        (("GET", "/no/such/route", {}), 404, "not_found"),
        (("DELETE", "/sessions", {}), 405, "method_not_allowed"),
    ],
)
async def test_bad_requests_get_a_json_error(
    app_client: httpx.AsyncClient,
    request_args: tuple[str, str, dict[str, object]],
    status: int,
    code: str,
) -> None:
    method, path, kwargs = request_args
    response = await app_client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.json()["error"] == code
    assert response.json()["detail"]


async def test_history_pages_backwards_from_a_message_id(
    app_client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.push(routed())
    for n in range(3):
        llm.push(Text([f"answer {n}"]))
        await app_client.post(
            "/agent/message/stream", json={"session_id": "h", "content": f"question {n}"}
        )
    last = (await app_client.get("/sessions/h/history", params={"limit": 4})).json()
    assert [m["content"] for m in last["messages"]] == [
        "question 1",
        "answer 1",
        "question 2",
        "answer 2",
    ]
    older = await app_client.get(
        "/sessions/h/history", params={"limit": 4, "before": last["next_before"]}
    )
    assert [m["content"] for m in older.json()["messages"]] == [
        "question 0",
        "Switched from orchestrator to coder: the request is about code",
        "answer 0",
    ]
    assert older.json()["next_before"] is None


async def test_served_schema_is_the_models_schema(app_client: httpx.AsyncClient) -> None:
    schema = (await app_client.get("/protocol/schema.json")).json()
    assert schema == protocol.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    client_types = set(schema["$defs"]["ClientFrame"]["discriminator"]["mapping"])
    assert client_types == protocol.CLIENT_FRAME_TYPES
    hub_types = set(schema["$defs"]["HubFrame"]["discriminator"]["mapping"])
    assert protocol.EXTENSION_FRAME_TYPES < hub_types
    assert {"assistant_message", "tool_call", "agent_switched", "error"} < hub_types


SEED_STREAM = (
    b'data: {"type":"agent_switched","content":"Switched from orchestrator to coder: the request'
    b' is about code","from_agent":"orchestrator","to_agent":"coder","reason":"the request is'
    b' about code","confidence":"0.90","method":"llm"}\n\n'
    b'data: {"token":"Hello, ","is_final":false,"type":"assistant_message"}\n\n'
    b'data: {"token":"world","is_final":false,"type":"assistant_message"}\n\n'
    b'data: {"token":"","is_final":true,"type":"assistant_message"}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize(
    "body",
    [
        {"session_id": "sse", "role": "user", "content": "Say hello"},
        {"session_id": "sse", "message": {"type": "user_message", "content": "Say hello"}},
    ],
    ids=["seed-body", "gateway-body"],
)
async def test_sse_streams_tokens_in_the_seed_format(
    app_client: httpx.AsyncClient, llm: ScriptedLLM, body: dict[str, object]
) -> None:
    llm.push(routed(), Text(["Hello, ", "world"]))
    async with app_client.stream("POST", "/agent/message/stream", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert raw == SEED_STREAM
    history = (await app_client.get("/sessions/sse/history")).json()["messages"]
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "Say hello"),
        ("system", "Switched from orchestrator to coder: the request is about code"),
        ("assistant", "Hello, world"),
    ]
    switch = history[1]
    assert (switch["notice"], switch["details"]) == (True, {"method": "llm", "confidence": 0.9})


async def test_sse_reports_an_llm_failure_as_an_error_event(
    app_client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.push(Fail(503, "upstream down"), Fail(503, "upstream down"))
    response = await app_client.post(
        "/agent/message/stream", json={"session_id": "f", "content": "hi"}
    )
    events = response.content.split(b"\n\n")
    # The routing call failed too: the keyword fallback picked the coder.
    assert b'"to_agent":"coder","reason":"no keyword matched; default"' in events[0]
    # The error comes before `is_final`, so a client that stops reading there still sees it.
    assert events[1].startswith(b'data: {"type":"error","content":"LLM endpoint answered HTTP 503')
    assert events[1].endswith(b'"code":"llm_error"}')
    assert events[2] == b'data: {"token":"","is_final":true,"type":"assistant_message"}'
    assert events[3:] == [b"data: [DONE]", b""]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"not json"}, 400, "invalid_json"),
        ({"json": {"session_id": "x"}}, 422, "invalid_request"),
        ({"json": {"content": "hi"}}, 422, "invalid_request"),
        ({"json": {"session_id": "x", "content": "hi", "role": "robot"}}, 422, "invalid_request"),
        ({"json": {"session_id": "x", "content": "x" * 5000}}, 413, "too_large"),
    ],
)
async def test_sse_refuses_bad_bodies_with_json_errors(
    app_client: httpx.AsyncClient, kwargs: dict[str, object], status: int, code: str
) -> None:
    response = await app_client.post("/agent/message/stream", **kwargs)  # type: ignore[arg-type]
    assert (response.status_code, response.json()["error"]) == (status, code)


def test_the_protocol_reference_documents_every_frame_type() -> None:
    text = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text()
    schema = protocol.json_schema()["$defs"]
    for union in ("ClientFrame", "HubFrame"):
        for kind in schema[union]["discriminator"]["mapping"]:
            assert f"`{kind}`" in text, kind
    for code in protocol.ErrorCode:
        assert f"`{code.value}`" in text, code


async def test_the_user_switches_agent_over_rest(app_client: httpx.AsyncClient) -> None:
    await app_client.post("/sessions", json={"session_id": "sw"})
    switched = await app_client.post("/sessions/sw/agent", json={"agent": "debug"})
    assert switched.json() == {"session_id": "sw", "agent": "debug"}
    assert (await app_client.get("/agents/sw/current")).json()["agent"] == "debug"
    unknown = await app_client.post("/sessions/sw/agent", json={"agent": "wizard"})
    assert (unknown.status_code, unknown.json()["error"]) == (422, "unknown_agent")


async def test_allow_rules_are_added_listed_and_validated(app_client: httpx.AsyncClient) -> None:
    await app_client.post("/sessions", json={"session_id": "rules"})
    added = await app_client.post(
        "/sessions/rules/allow-rules", json={"tool_name": "write_file", "pattern": "docs/*.md"}
    )
    assert added.status_code == 201 and added.json()["created_by"] == "rest"
    bad = await app_client.post(
        "/sessions/rules/allow-rules", json={"tool_name": "teleport", "pattern": "*"}
    )
    assert bad.status_code == 422
    listed = (await app_client.get("/sessions/rules/allow-rules")).json()["rules"]
    assert [(r["tool_name"], r["pattern"]) for r in listed] == [("write_file", "docs/*.md")]
    missing = await app_client.delete("/sessions/rules/allow-rules/999")
    assert missing.status_code == 404
    unknown = await app_client.post("/sessions/rules/approvals/nope", json={"decision": "approve"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_call")


async def test_sessions_can_be_searched_by_id(app_client: httpx.AsyncClient) -> None:
    for name in ("alpha-1", "beta-2", "ALPHA-3"):
        await app_client.post("/sessions", json={"session_id": name})
    found = (await app_client.get("/sessions", params={"q": "alpha"})).json()["sessions"]
    assert sorted(s["session_id"] for s in found) == ["ALPHA-3", "alpha-1"]


async def test_the_console_page_is_served_without_the_key(app: Starlette) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://hub", follow_redirects=True
    ) as client:
        page = await client.get("/console/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert (await client.get("/sessions")).status_code == 401  # the data still needs it


async def test_an_sse_client_answers_a_followup_question_with_its_next_post(
    app_client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.push(
        routed(),
        ToolCalls([("fq-1", "ask_followup_question", {"question": "Which DB?"})]),
        Text(["PostgreSQL then."]),
    )
    asked = await app_client.post(
        "/agent/message/stream", json={"session_id": "fq", "content": "set up storage"}
    )
    events = [e for e in asked.content.split(b"\n\n") if e]
    assert events[-2] == (
        b'data: {"type":"followup_question","call_id":"fq-1","question":"Which DB?","options":null}'
    )
    assert events[-1] == b"data: [DONE]"
    answered = await app_client.post(
        "/agent/message/stream", json={"session_id": "fq", "content": "Postgres"}
    )
    assert b'"token":"PostgreSQL then."' in answered.content
    assert llm.requests[-1]["messages"][-1] == {
        "role": "tool",
        "content": "Postgres",
        "tool_call_id": "fq-1",
    }


async def test_health_reports_a_database_that_can_no_longer_be_written(
    app_client: httpx.AsyncClient, settings: Settings
) -> None:
    # SQLite keeps writing to a deleted file: every write would be lost.
    delete(Path(settings.database_url.removeprefix("sqlite://")))
    response = await app_client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unwritable"
    assert response.json()["status"] == "degraded"


def delete(path: Path) -> None:
    path.unlink()
