"""The hub's Prometheus metrics (`GET /metrics`), one set per process.

What happens is counted where it happens (a run ends, a socket is cut off) through the named
methods below; what is (sessions live, approvals waiting) is read from the session registry at
scrape time, so nothing is kept twice. Token frames, the hot path, are a plain int read at
scrape time (a prometheus Counter costs ~0.3 µs an increment, a few per cent of a relay).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.protocol.hub import HubFrameModel

# Seconds: from a few milliseconds (a hub's own overhead) to a slow model's minute.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 3600)  # a human deciding
BUS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._runs = Counter(
            "agent_hub_runs", "Runs, by agent and how they ended.", ["agent", "reason"], registry=r
        )
        self._run_seconds = Histogram(
            "agent_hub_run_seconds", "How long runs took.", buckets=LATENCY_BUCKETS, registry=r
        )
        self._first_token = Histogram(
            "agent_hub_time_to_first_token_seconds",
            "From the start of a run to its first streamed token.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._model_calls = Histogram(
            "agent_hub_model_call_seconds",
            "Model calls, from the request to the stream's end, by purpose and outcome.",
            ["purpose", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._llm_errors = Counter(
            "agent_hub_llm_errors",
            "Model calls that failed, by kind (unreachable, timeout, http_5xx, …).",
            ["kind"],
            registry=r,
        )
        self._bus_lag = Histogram(
            "agent_hub_bus_lag_seconds",
            "From the owner appending frames to Redis to a relaying process reading them.",
            buckets=BUS_BUCKETS,
            registry=r,
        )
        self._errors = Counter(
            "agent_hub_run_errors", "Errors that ended or hit a run, by code.", ["code"], registry=r
        )
        self._approval_wait = Histogram(
            "agent_hub_approval_wait_seconds",
            "How long approvals waited for their decision (or expiry).",
            ["decision"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self._frames = Counter(
            "agent_hub_frames_sent", "Frames broadcast to sessions, by type.", ["type"], registry=r
        )
        self._frame_children: dict[str, Counter] = {}  # a label lookup costs a microsecond
        self.tokens = 0  # token frames streamed: a plain int, read at scrape time (hot path)
        self.merged = Counter(
            "agent_hub_token_frames_merged",
            "Token frames merged into others for clients that lagged behind.",
            registry=r,
        )
        self._sockets = Gauge(
            "agent_hub_sockets_open", "Open sockets, by client kind.", ["client"], registry=r
        )
        self._cut_off = Counter(
            "agent_hub_clients_cut_off", "Sockets the hub closed, by close code.", ["code"],
            registry=r,
        )  # fmt: skip
        self._attached = Counter(
            "agent_hub_attaches",
            "Clients attached: fresh, resumed from their last_seq, or sent a resync.",
            ["outcome"],
            registry=r,
        )

    def watch(self, sessions: Callable[[], SessionCounts]) -> None:
        """Read the live sessions at every scrape."""
        self.registry.register(_LiveCollector(sessions, lambda: self.tokens))

    def run_ended(self, agent: str, reason: str, seconds: float) -> None:
        self._runs.labels(agent, reason).inc()
        self._run_seconds.observe(seconds)

    def first_token(self, seconds: float) -> None:
        self._first_token.observe(seconds)

    def model_call(self, purpose: str, outcome: str, seconds: float) -> None:
        self._model_calls.labels(purpose, outcome).observe(seconds)

    def llm_error(self, kind: str) -> None:
        self._llm_errors.labels(kind).inc()

    def bus_lag(self, seconds: float) -> None:
        self._bus_lag.observe(max(0.0, seconds))  # clocks of two hosts may disagree

    def error(self, code: str) -> None:
        self._errors.labels(code).inc()

    def approval_decided(self, decision: str, waited: float) -> None:
        self._approval_wait.labels(decision).observe(waited)

    def frame(self, kind: str) -> None:
        if (child := self._frame_children.get(kind)) is None:
            child = self._frame_children[kind] = self._frames.labels(kind)
        child.inc()

    def socket_opened(self, client: str) -> None:
        self._sockets.labels(client).inc()

    def socket_closed(self, client: str) -> None:
        self._sockets.labels(client).dec()

    def cut_off(self, code: int) -> None:
        self._cut_off.labels(str(code)).inc()

    def attached(self, outcome: str) -> None:
        self._attached.labels(outcome).inc()


SessionCounts = tuple[int, int]  # sessions live in this process, approvals waiting in them


class _LiveCollector(Collector):
    def __init__(self, sessions: Callable[[], SessionCounts], tokens: Callable[[], int]) -> None:
        self._sessions = sessions
        self._tokens = tokens

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "agent_hub_token_frames",
            "Token frames streamed (before any merging).",
            value=self._tokens(),
        )
        live, waiting = self._sessions()
        yield GaugeMetricFamily(
            "agent_hub_sessions_live", "Sessions held in this process's memory.", value=live
        )
        yield GaugeMetricFamily(
            "agent_hub_approvals_pending", "Approvals waiting for a decision.", value=waiting
        )


class SessionMeter:
    """What one live session adds to the metrics: its runs, tokens, frames, errors and
    decisions. Without metrics it keeps only the run's start (for the log line)."""

    def __init__(self, metrics: HubMetrics | None) -> None:
        self._metrics = metrics
        self._started = 0.0
        self._first_token_due = False  # the running run has streamed no token yet

    def run_started(self) -> None:
        self._started, self._first_token_due = time.monotonic(), True

    def run_ended(self, agent: str, reason: str) -> float:
        """The run's duration, also counted."""
        took = time.monotonic() - self._started
        if self._metrics is not None:
            self._metrics.run_ended(agent, reason, took)
        return took

    def token(self) -> None:
        if self._metrics is None:
            return
        self._metrics.tokens += 1
        if self._first_token_due:
            self._first_token_due = False
            self._metrics.first_token(time.monotonic() - self._started)

    def frame(self, model: type[HubFrameModel]) -> None:
        if self._metrics is not None:
            self._metrics.frame(frame_type(model))

    def error(self, code: str) -> None:
        if self._metrics is not None:
            self._metrics.error(code)

    def approval_decided(self, decision: str, since: datetime) -> None:
        if self._metrics is not None:
            self._metrics.approval_decided(decision, (datetime.now(UTC) - since).total_seconds())

    def attached(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.attached(outcome)


@functools.cache
def frame_type(model: type[HubFrameModel]) -> str:
    """A frame model's `type`, the label its frames are counted under."""
    return str(model.model_fields["type"].default)
