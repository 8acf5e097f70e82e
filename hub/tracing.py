"""OpenTelemetry traces: a span per run, per model call and per tool call.

The hub speaks only the OpenTelemetry API; with no exporter configured its tracer is the
API's no-op one (a few hundred nanoseconds a span, and there are a handful per turn). Setting
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) turns on the SDK and its OTLP/HTTP
exporter, the `otel` extra; every other `OTEL_*` variable is the SDK's own. Span names and
attributes follow the GenAI semantic conventions; no message text or tool arguments go in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import Token

from opentelemetry import context, trace
from opentelemetry.trace import NoOpTracer, Span, SpanKind, Status, StatusCode, Tracer

from agents.vocab import ToolOutcomeStatus

log = logging.getLogger(__name__)
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
SCOPE = "agent_hub"
#: How a tool call ends that marks its span an error; a refusal or a user's "no" is an answer.
FAILED: tuple[ToolOutcomeStatus, ...] = ("failed", "expired")


def missing_sdk(environ: Mapping[str, str]) -> str | None:
    """Why traces are asked for and cannot be sent, if so: checked before any worker starts,
    so that a missing extra is one clear line, not every worker dying in its lifespan."""
    if not exported(environ):
        return None
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as exc:
        return (
            f"{' or '.join(ENDPOINTS)} is set, but the OpenTelemetry SDK is not installed "
            f"({exc}): uv sync --extra otel (or pip install 'agent-hub[otel]')"
        )
    return None


def exported(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for name in ENDPOINTS)


class Tracing:
    """The process's tracer, and the exporter to flush when the hub stops."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._provider = None
        self.tracer: Tracer = NoOpTracer()
        if not exported(environ):
            return
        if (why := missing_sdk(environ)) is not None:
            raise SystemExit(why)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = Resource.create({"service.name": "agent-hub"})  # OTEL_SERVICE_NAME wins
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._provider = provider
        self.tracer = provider.get_tracer(SCOPE)
        endpoint = environ.get(ENDPOINTS[1]) or environ[ENDPOINTS[0]]  # the SDK's precedence
        log.info("traces are exported by OTLP to %s", endpoint)

    def shutdown(self) -> None:
        """Send the spans still batched."""
        if self._provider is not None:
            self._provider.shutdown()


class SessionTraces:
    """One live session's open spans: its run, and its tool calls (which may wait for a person
    or the IDE past the run that asked for them, so they are ended by their result)."""

    def __init__(self, tracer: Tracer, session_id: str) -> None:
        self._tracer = tracer
        self._session_id = session_id
        self._run: Span | None = None
        self._current: Token[context.Context] | None = None  # made the run's span current
        self._tools: dict[str, Span] = {}

    def run_started(self, run_id: str, agent: str, kind: str) -> None:
        """Open the run's span, a trace of its own, and make it the current one of the run's
        task, so the model calls made in it are its children."""
        self._end_unfinished_run()
        self._run = self._tracer.start_span(
            f"invoke_agent {agent}",
            # A run started by the end of another, or by a timer, is in a task copied from
            # that one's context: without a fresh context it would be parented to it.
            context=context.Context(),
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": agent,
                "gen_ai.conversation.id": self._session_id,
                "agent_hub.run.id": run_id,
                "agent_hub.run.kind": kind,
            },
        )
        self._current = context.attach(trace.set_span_in_context(self._run))

    def run_ended(self, agent: str, reason: str) -> None:
        """Called in the run's task, as `run_started` was."""
        if (span := self._run) is None:
            return
        span.set_attributes({"agent_hub.run.reason": reason, "agent_hub.run.final_agent": agent})
        if reason == "error":
            span.set_status(Status(StatusCode.ERROR, "the run failed"))
        span.end()
        self._run = None
        if self._current is not None:
            context.detach(self._current)
            self._current = None

    def tool_started(self, call_id: str, tool_name: str, agent: str) -> None:
        if call_id in self._tools:
            return  # taken up again once decided: the span has been open since first sight
        parent = trace.set_span_in_context(self._run) if self._run is not None else None
        self._tools[call_id] = self._tracer.start_span(
            f"execute_tool {tool_name}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool_name,
                "gen_ai.tool.call.id": call_id,
                "gen_ai.agent.name": agent,
            },
        )

    def tool_announced(self, call_id: str, tool_name: str, agent: str, approval: bool) -> None:
        """Sent to be approved or run by a client; sent again once decided, even after a
        restart, when the span opens here."""
        self.tool_started(call_id, tool_name, agent)
        if approval:
            self._tools[call_id].set_attribute("agent_hub.tool.requires_approval", True)

    def approval_decided(self, call_id: str, decision: str, decided_by: str) -> None:
        if (span := self._tools.get(call_id)) is not None:
            span.add_event("approval", {"decision": decision, "decided_by": decided_by})

    def tool_finished(self, call_id: str, status: ToolOutcomeStatus) -> None:
        if (span := self._tools.pop(call_id, None)) is None:
            return  # taken up before a restart: its span went with that process
        span.set_attribute("agent_hub.tool.status", status)
        if status in FAILED:
            span.set_status(Status(StatusCode.ERROR, status))
        span.end()

    def close(self) -> None:
        """The session leaves memory: what is still open ends here, marked so."""
        for span in self._tools.values():
            span.set_attribute("agent_hub.tool.status", "unfinished")
            span.end()
        self._tools.clear()
        self._end_unfinished_run()

    def _end_unfinished_run(self) -> None:
        """A run whose task ended without ending its span (a bug): ended, not leaked."""
        if self._run is not None:
            self._run.set_attribute("agent_hub.run.reason", "unfinished")
            self._run.end()
            self._run = None
