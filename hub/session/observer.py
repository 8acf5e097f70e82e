"""What the hub notes of a live session's runs besides their frames: the log's ids and lines,
the metrics, the spans, and the user's count of running sessions. The driver tells it of each
run's start, each run event and each run's end; it changes nothing in the session."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from agents.run import steps
from hub import logs
from hub.metrics import SessionMeter
from hub.session.machine import Work
from hub.tracing import SessionTraces
from hub.users import UserLimits

log = logging.getLogger(__name__)


class SessionObserver:
    def __init__(
        self,
        session_id: str,
        owner: str | None,
        users: UserLimits,
        meter: SessionMeter,
        traces: SessionTraces,
    ) -> None:
        self._id = session_id
        self._owner = owner
        self._users = users
        self._meter = meter
        self._traces = traces

    def run_started(self, work: Work, agent: str, kind: str) -> None:
        """Called in the run's own task: what it binds lasts as long as the run."""
        # This task's lines: the run, and who started it (the author of its message).
        logs.bind(session_id=self._id, run_id=work.run_id, user=self._owner, client=work.author)
        self._meter.run_started()
        self._traces.run_started(work.run_id, agent, kind)
        if self._owner is not None:
            self._users.run_started(self._owner, self._id)

    def run_ended(self, agent: str, reason: str) -> None:
        took = self._meter.run_ended(agent, reason)
        self._traces.run_ended(agent, reason)
        log.info("run ended: %s (%s, %.2fs)", reason, agent, took)
        if self._owner is not None:
            self._users.run_ended(self._owner, self._id)

    def event(self, event: steps.RunEvent, waits: Mapping[str, steps.Wait]) -> None:
        """Before the session applies it: `waits` still holds what it answers."""
        match event:
            case steps.ToolStarted(call_id=call_id, tool_name=name, agent=agent):
                self._traces.tool_started(call_id, name, agent)
            case steps.ToolAnnounced(call_id=call_id, tool_name=name, agent=agent):
                self._traces.tool_announced(call_id, name, agent, event.requires_approval)
            case steps.ApprovalResolved(call_id=call_id, decision=decision, decided_by=by):
                if (wait := waits.get(call_id)) is not None:
                    self._meter.approval_decided(decision, wait.since)
                self._traces.approval_decided(call_id, decision, by)
            case steps.ToolFinished(call_id=call_id, status=status):
                self._traces.tool_finished(call_id, status)
            case steps.RunFailed(code=code, message=message):
                log.warning("session %s: turn failed (%s): %s", self._id, code.value, message)
                self._meter.error(code.value)

    def close(self) -> None:
        self._traces.close()
