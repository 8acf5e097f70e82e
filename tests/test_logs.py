"""The hub's log lines with `AGENT_RUNTIME__LOG_FORMAT=json`: every line, uvicorn's too, is one
JSON object, and the lines of a run carry its session and run ids."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hub.logs import _redact
from tests.conftest import routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Fail, ScriptedLLM, Text
from tests.socket_client import ide, receive, receive_until, send


async def test_json_lines_carry_the_session_and_run_they_concern(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    hub = HubProcess(
        tmp_path, llm.base_url, AGENT_RUNTIME__LOG_FORMAT="json", AGENT_RUNTIME__LOG_LEVEL="INFO"
    ).start()
    llm.push(routed(), Text(["Fine."]), Fail(status=500))
    try:
        async with ide(hub, "logged") as ws:
            await receive(ws)
            await send(ws, type="user_message", content="a secret plan", role="user")
            first = (await receive_until(ws, "run_finished"))[-1]["run_id"]
            await send(ws, type="user_message", content="again", role="user")
            second = (await receive_until(ws, "run_finished"))[-1]["run_id"]
    finally:
        hub.stop()
    lines = [json.loads(line) for line in hub.log.read_text().splitlines() if line.strip()]
    assert all({"event", "level", "timestamp", "logger"} <= set(line) for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    ended = [line for line in lines if line["event"].startswith("run ended")]
    assert [(e["session_id"], e["run_id"]) for e in ended] == [
        ("logged", first),
        ("logged", second),
    ]
    failed = next(line for line in lines if "turn failed" in line["event"])
    assert (failed["level"], failed["run_id"]) == ("warning", second)
    assert "a secret plan" not in hub.log.read_text()  # no message text in the logs


def test_credentials_in_logged_urls_are_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s" %d', (
            "127.0.0.1", "GET", "/approve/eyJzIjoi.c2lnbmF0dXJl?x=1", 200
        ), None,
    )  # fmt: skip
    socket = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '"WebSocket %s"', ("/ws/s1?ticket=t0k3n&a=b",),
        None,
    )  # fmt: skip
    assert _redact(record) and _redact(socket)
    assert record.getMessage() == '127.0.0.1 - "GET /approve/[redacted]?x=1" 200'
    assert socket.getMessage() == '"WebSocket /ws/s1?ticket=[redacted]&a=b"'
