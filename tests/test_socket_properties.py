"""Random frames at a real socket and the SSE endpoint (the app in-process, on SQLite and on
PostgreSQL): whatever fields, lengths and characters arrive, every answer is a typed frame or a
JSON error, none is `internal_error`, and the socket stays open."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from httpx_ws import aconnect_ws
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import protocol
from hub.app import create_app
from hub.config import Settings
from tests.conftest import API_KEY, ws_client
from tests.scripted_llm import ScriptedLLM

# Text of every length around the limits, with the characters databases refuse or mangle.
awkward_text = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from(["\x00", "\n", "\r", "\t", "\x7f"]),
    max_size=300,
) | st.sampled_from(["", "x" * 128, "x" * 129, "x" * 64, "x" * 65, "x" * 513])
values = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | awkward_text
json_values = st.recursive(
    values,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(awkward_text, children, max_size=3)
    ),
    max_leaves=8,
)
frames = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(protocol.CLIENT_FRAME_TYPES - {"user_message"}))},
    optional={
        "call_id": awkward_text | json_values,
        "decision": st.sampled_from(["approve", "edit", "reject"]) | awkward_text,
        "modified_arguments": json_values,
        "feedback": awkward_text,
        "allow_pattern": awkward_text,
        "always_allow": st.booleans(),
        "agent_type": awkward_text | st.sampled_from(["coder", "ask"]),
        "reason": awkward_text,
        "result": json_values,
        "error": awkward_text,
        "approval_request_id": awkward_text,
        "data": awkward_text,
    },
)


@pytest.fixture
def hub_settings(llm_server: ScriptedLLM, database_url: str) -> Settings:
    return Settings(
        llm_proxy_url=llm_server.base_url,
        internal_api_key=API_KEY,
        database_url=database_url,
        max_frame_bytes=65536,
        max_messages_per_second=10_000,
    )


async def exchange(
    hub_settings: Settings, sent: list[dict[str, object]]
) -> list[dict[str, object]]:
    app = create_app(hub_settings)
    received: list[dict[str, object]] = []
    async with (
        app.router.lifespan_context(app),
        ws_client(app, **{"X-Internal-Auth": API_KEY}) as client,
        aconnect_ws("/ws/props", client) as ws,
    ):
        received.append(orjson.loads(await ws.receive_text(timeout=5)))
        for frame in sent:
            await ws.send_text(orjson.dumps(frame).decode())
            posted = await client.post(
                "/agent/message/stream", json={"session_id": "props", **frame}
            )
            if posted.status_code >= 400:  # a JSON error with its code; never a bare 500
                assert posted.json()["error"] != "internal_error", (frame, posted.text)
        await ws.send_text('{"type": "ping", "data": "end"}')
        while received[-1].get("data") != "end":
            received.append(orjson.loads(await ws.receive_text(timeout=5)))
    return received


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sent=st.lists(frames, min_size=1, max_size=4))
def test_any_frame_gets_a_typed_answer_and_the_socket_stays_open(
    hub_settings: Settings, sent: list[dict[str, object]]
) -> None:
    received = asyncio.run(exchange(hub_settings, sent))
    assert received[-1]["type"] == "pong"  # still open after every frame
    for frame in received:
        protocol.hub_frame_adapter.validate_python(frame)
    codes = [f["code"] for f in received if f["type"] == "error"]
    assert "internal_error" not in codes, (sent, received)
