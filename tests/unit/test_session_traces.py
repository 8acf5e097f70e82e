"""A live session's spans on the in-memory fakes, read by the SDK's in-memory exporter: the
cases the end-to-end trace test cannot time, such as a run that a deadline starts."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.fakes.script import Text, ToolCalls
from tests.fakes.session import rig
from tests.frames import say
from tools.approval import ToolPolicy


def exporter() -> tuple[InMemorySpanExporter, TracerProvider]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return spans, provider


def named(spans: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    found = [s for s in spans.get_finished_spans() if s.name.startswith(prefix)]
    return sorted(found, key=lambda s: s.start_time or 0)


async def test_a_run_a_deadline_starts_is_a_trace_of_its_own() -> None:
    # The expiry's timer is armed inside the first run's task, with that run's span current.
    spans, provider = exporter()
    write = ToolCalls([("w1", "write_file", {"path": "a.py", "content": "x = 1\n"})])
    policies = {"write_file": ToolPolicy(timeout_seconds=0.2)}
    r = await rig(write, Text(["Too late."]), policies=policies, tracer=provider.get_tracer("t"))
    await say(r.live, "write")
    await r.ide.until_type("run_finished", 2)

    first, continued = named(spans, "invoke_agent ")
    assert continued.attributes is not None
    assert continued.attributes["agent_hub.run.kind"] == "continue"
    assert (first.parent, continued.parent) == (None, None)
    assert first.context is not None and continued.context is not None
    assert first.context.trace_id != continued.context.trace_id
    (tool,) = named(spans, "execute_tool ")
    assert tool.attributes is not None
    assert tool.attributes["agent_hub.tool.status"] == "expired"
    assert tool.parent is not None and tool.parent.span_id == first.context.span_id
    assert [e.name for e in tool.events] == ["approval"]
