"""`hub.model_calls.ObservedModel`: each model call ends as one span and one timed sample,
whether it finished, failed or was cut off by a timeout; spans read by the SDK's in-memory
exporter, samples from the metrics' own registry."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agents.llm import LLMError
from agents.usage import Usage
from hub.metrics import HubMetrics
from hub.model_calls import ObservedModel
from tests.fakes.model import ScriptedModel
from tests.fakes.script import Fail, Hang, Text


def observed(model: ScriptedModel) -> tuple[ObservedModel, InMemorySpanExporter, HubMetrics]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = HubMetrics()
    return ObservedModel(model, "m", metrics, provider.get_tracer("test")), spans, metrics


def calls(metrics: HubMetrics, outcome: str) -> float:
    labels = {"purpose": "answer", "outcome": outcome}
    return metrics.registry.get_sample_value("agent_hub_model_call_seconds_count", labels) or 0


async def test_a_finished_call_carries_its_usage_and_a_failed_one_its_error() -> None:
    model = ScriptedModel(Text(["a", "b"]), Fail(503, "overloaded"))
    model.usage = Usage(prompt_tokens=7, completion_tokens=2)
    wrapped, spans, metrics = observed(model)
    assert [x async for x in wrapped.stream([])] == ["a", "b", model.usage]
    with pytest.raises(LLMError):
        _ = [x async for x in wrapped.stream([])]
    ok, failed = spans.get_finished_spans()
    assert ok.attributes is not None and failed.attributes is not None
    assert ok.attributes["gen_ai.usage.input_tokens"] == 7
    assert ok.attributes["gen_ai.usage.output_tokens"] == 2
    assert ok.attributes["agent_hub.model_call.outcome"] == "ok"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "http_5xx"  # never the endpoint's own text
    assert failed.attributes["error.type"] == "http_5xx"
    assert (calls(metrics, "ok"), calls(metrics, "error")) == (1, 1)


async def test_a_call_cut_off_by_a_timeout_is_counted_cancelled() -> None:
    wrapped, spans, metrics = observed(ScriptedModel(Hang(["x"])))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            _ = [x async for x in wrapped.stream([])]
    (span,) = spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["agent_hub.model_call.outcome"] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET  # not the model's failure
    assert (calls(metrics, "cancelled"), calls(metrics, "error")) == (1, 0)
