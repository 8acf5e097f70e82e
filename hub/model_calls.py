"""Every model call timed (`agent_hub_model_call_seconds`) and traced (a `chat` span), by one
`ChatModel` around the real one, so the turn core knows of neither."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from agents.llm import FunctionCall, LLMError, ToolCallFragment
from agents.ports import ChatModel
from agents.usage import Usage
from hub.metrics import HubMetrics


class ObservedModel:
    """Implements `agents.ports.ChatModel` by calling `inner`."""

    def __init__(self, inner: ChatModel, name: str, metrics: HubMetrics, tracer: Tracer) -> None:
        self._inner = inner
        self._name = name
        self._metrics = metrics
        self._tracer = tracer

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str | ToolCallFragment | Usage]:
        span, started, outcome = self._start("answer"), time.monotonic(), "error"
        try:
            async for item in self._inner.stream(messages, tools, max_tokens):
                if isinstance(item, Usage):
                    _usage(span, item)
                yield item
            outcome = "ok"
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "cancelled"  # a cancel or a timeout: neither ok nor the model's fault
            raise
        except Exception as exc:
            self._failed(span, exc)
            raise
        finally:
            self._end(span, "answer", outcome, started)

    async def call_function(
        self,
        messages: list[dict[str, Any]],
        function: dict[str, Any],
        timeout: float,  # noqa: ASYNC109  # the SDK's per-request timeout, passed on
        max_tokens: int = 256,
    ) -> FunctionCall:
        span, started, outcome = self._start("routing"), time.monotonic(), "error"
        try:
            call = await self._inner.call_function(messages, function, timeout, max_tokens)
            if call.usage is not None:
                _usage(span, call.usage)
            outcome = "ok"
            return call
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as exc:
            self._failed(span, exc)
            raise
        finally:
            self._end(span, "routing", outcome, started)

    def _start(self, purpose: str) -> Span:
        return self._tracer.start_span(
            f"chat {self._name}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": self._name,
                "agent_hub.model_call.purpose": purpose,
            },
        )

    def _failed(self, span: Span, exc: Exception) -> None:
        # The kind alone: an endpoint's error text may echo the request, and the URL in an
        # unreachable one may hold credentials; the hub's log line has the whole message.
        kind: str = type(exc).__name__
        if isinstance(exc, LLMError):
            kind = exc.kind
            self._metrics.llm_error(kind)
        span.set_attribute("error.type", kind)
        span.set_status(Status(StatusCode.ERROR, kind))

    def _end(self, span: Span, purpose: str, outcome: str, started: float) -> None:
        self._metrics.model_call(purpose, outcome, time.monotonic() - started)
        span.set_attribute("agent_hub.model_call.outcome", outcome)
        span.end()


def _usage(span: Span, usage: Usage) -> None:
    span.set_attributes(
        {
            "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens,
        }
    )
