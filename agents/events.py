"""What a run tells the outside world, and what it waits for: the `RunSink` interface.

The engine and the tool dispatcher only ever talk to a sink; the hub's live session is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from agents.definitions import AgentSpec

SwitchMethod = Literal["user", "llm", "keywords", "agent"]
ToolOutcomeStatus = Literal["done", "failed", "refused", "rejected", "expired", "cancelled"]
WaitKind = Literal["approval", "tool_result", "answer"]


@dataclass(frozen=True, slots=True)
class Wait:
    """A call the turn is parked on, with what a client needs to act on it."""

    call_id: str
    kind: WaitKind
    tool_name: str
    arguments: dict[str, Any]
    agent: str
    deadline: datetime | None = None  # approvals: when they expire; IDE calls: their timeout
    since: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class ToolCallNotice:
    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    agent: str
    requires_approval: bool
    expires_at: datetime | None = None
    diff: str | None = None


class RunSink(Protocol):
    """Where a run's output goes. `token` is the hot path and must not block."""

    @property
    def agent(self) -> AgentSpec: ...

    def token(self, text: str) -> None: ...

    def message_end(self) -> None: ...

    def error(self, code: str, content: str) -> None: ...

    async def switch_agent(
        self, to_agent: str, reason: str, method: SwitchMethod, confidence: float | None = None
    ) -> None: ...

    def tool_call(self, notice: ToolCallNotice) -> None: ...

    def tool_finished(
        self, call_id: str, tool_name: str, status: ToolOutcomeStatus, content: str
    ) -> None: ...

    def followup_question(self, call_id: str, question: str, options: list[str] | None) -> None: ...

    def approval_resolved(
        self, call_id: str, decision: str, decided_by: str, feedback: str | None = None
    ) -> None: ...

    def awaiting(self, wait: Wait) -> None:
        """The run parks on this call; the sink keeps it to re-send and arms its deadline."""
