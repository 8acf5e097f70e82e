"""OpenTelemetry traces from a real hub process, exported by the SDK's OTLP/HTTP exporter to a
receiver this test runs, and decoded with the OTLP protobuf schema."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from tests.conftest import routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Hang, ScriptedLLM, Text, ToolCalls
from tests.socket_client import ide, receive, receive_until, send


class OtlpReceiver:
    """Takes `POST /v1/traces` as an OpenTelemetry collector does, and keeps the spans."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        self.services: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  # http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.take(ExportTraceServiceRequest.FromString(body), self.path)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def take(self, request: ExportTraceServiceRequest, path: str) -> None:
        assert path == "/v1/traces"
        with self._arrived:
            self._take(request)
            self._arrived.notify_all()

    def _take(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            self.services |= {
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            }
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        {
                            "name": span.name,
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano,
                            "attributes": _values(span.attributes),
                            "events": [(e.name, _values(e.attributes)) for e in span.events],
                            "error": span.status.code == span.status.STATUS_CODE_ERROR,
                        }
                    )

    def named(self, prefix: str) -> list[dict[str, Any]]:
        return sorted((s for s in self.spans if s["name"].startswith(prefix)), key=_start)

    async def wait_for(self, count: int) -> None:
        def arrived() -> bool:
            with self._arrived:
                return self._arrived.wait_for(lambda: len(self.spans) >= count, timeout=10)

        assert await asyncio.to_thread(arrived), f"{len(self.spans)} spans of {count} came"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _start(span: dict[str, Any]) -> int:
    return int(span["start"])


def _values(attributes: Any) -> dict[str, Any]:
    def one(kv: KeyValue) -> Any:
        v = kv.value
        return getattr(v, v.WhichOneof("value"))

    return {kv.key: one(kv) for kv in attributes}


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    otlp = OtlpReceiver()
    yield otlp
    otlp.close()


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM, receiver: OtlpReceiver) -> Iterator[HubProcess]:
    process = HubProcess(
        tmp_path,
        llm.base_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="50",  # milliseconds: export at once, not every 5 s
    ).start()
    yield process
    process.stop()


async def test_a_run_its_model_calls_and_its_approved_tool_call_are_traced(
    hub: HubProcess, llm: ScriptedLLM, receiver: OtlpReceiver
) -> None:
    secret = "the text of a message, never in a span"
    write = ToolCalls([("t-1", "write_file", {"path": "a.md", "content": secret})])
    llm.push(routed(), write, Text(["Written."]))
    async with ide(hub, "traced") as ws:
        await receive(ws)
        await send(ws, type="user_message", content=f"write a.md: {secret}", role="user")
        await receive_until(ws, "run_finished", reason="waiting")  # for the approval
        await send(ws, type="hitl_decision", call_id="t-1", decision="approve")
        await receive_until(ws, "run_finished", reason="waiting")  # for the IDE's result
        await send(ws, type="tool_result", call_id="t-1", result="wrote a.md")
        await receive_until(ws, "run_finished", reason="completed")
    await receiver.wait_for(3 + 3 + 1)  # runs, model calls, the tool call

    assert receiver.services == {"agent-hub"}
    runs = receiver.named("invoke_agent ")
    assert [r["attributes"]["agent_hub.run.reason"] for r in runs] == [
        "waiting", "waiting", "completed"
    ]  # fmt: skip
    assert [r["attributes"]["agent_hub.run.kind"] for r in runs] == [
        "message", "continue", "continue"
    ]  # fmt: skip
    assert runs[0]["name"] == "invoke_agent orchestrator"  # who took the message
    assert runs[0]["attributes"]["agent_hub.run.final_agent"] == "coder"  # it routed it
    assert {r["attributes"]["gen_ai.conversation.id"] for r in runs} == {"traced"}
    assert all(r["parent"] == "" for r in runs)  # each run is a trace of its own

    chats = receiver.named("chat ")
    assert [c["name"] for c in chats] == ["chat scripted-model"] * 3
    purposes = [c["attributes"]["agent_hub.model_call.purpose"] for c in chats]
    assert purposes == ["routing", "answer", "answer"]
    # The routing call and the first answer were made in the first run, the last in the third.
    parents = [next(r for r in runs if r["id"] == c["parent"]) for c in chats]
    assert [runs.index(p) for p in parents] == [0, 0, 2]
    assert all(c["trace"] == p["trace"] for c, p in zip(chats, parents, strict=True))
    assert all(c["attributes"]["agent_hub.model_call.outcome"] == "ok" for c in chats)

    (tool,) = receiver.named("execute_tool ")
    assert tool["name"] == "execute_tool write_file"
    assert (tool["parent"], tool["trace"]) == (runs[0]["id"], runs[0]["trace"])
    assert tool["attributes"]["gen_ai.tool.call.id"] == "t-1"
    assert tool["attributes"]["agent_hub.tool.requires_approval"] is True
    assert tool["attributes"]["agent_hub.tool.status"] == "done"
    ((event, decided),) = tool["events"]
    assert (event, decided["decision"]) == ("approval", "approve")
    assert decided["decided_by"].startswith("ide:")  # the client that decided
    assert tool["end"] > runs[1]["end"]  # it lasted until the IDE's result, two runs later
    assert not any(s["error"] for s in receiver.spans)
    assert secret not in repr(receiver.spans)


async def test_a_queued_run_is_a_trace_of_its_own_and_every_tool_call_has_a_span(
    hub: HubProcess, llm: ScriptedLLM, receiver: OtlpReceiver
) -> None:
    calls = ToolCalls(
        [
            ("s-1", "switch_mode", {"mode": "ask", "reason": "a question"}),  # the hub runs it
            ("f-1", "read_file", {}),  # no path: it fails on first sight
        ]
    )
    llm.push(routed(), calls, Hang(["one"]), Text(["two"]))
    async with ide(hub, "queued") as ws:
        await receive(ws)
        await send(ws, type="user_message", content="first", role="user")
        await receive_until(ws, "assistant_message", token="one")
        await send(ws, type="user_message", content="second", role="user")
        await receive_until(ws, "message_queued")
        llm.release()
        await receive_until(ws, "run_finished")
        await receive_until(ws, "run_finished")
    await receiver.wait_for(2 + 4 + 2)  # runs, model calls, tool calls

    runs = receiver.named("invoke_agent ")
    assert [r["attributes"]["agent_hub.run.reason"] for r in runs] == ["completed"] * 2
    # The second run's task was started by the end of the first: still a trace of its own.
    assert [r["parent"] for r in runs] == ["", ""]
    assert runs[0]["trace"] != runs[1]["trace"]
    chats = receiver.named("chat ")
    assert [c["parent"] for c in chats] == [runs[0]["id"]] * 3 + [runs[1]["id"]]

    switched, failed = receiver.named("execute_tool ")
    assert switched["name"] == "execute_tool switch_mode"
    assert (switched["attributes"]["agent_hub.tool.status"], switched["error"]) == ("done", False)
    assert "agent_hub.tool.requires_approval" not in switched["attributes"]
    assert failed["name"] == "execute_tool read_file"
    assert (failed["attributes"]["agent_hub.tool.status"], failed["error"]) == ("failed", True)
    assert {t["parent"] for t in (switched, failed)} == {runs[0]["id"]}
