"""What the store hands out: plain, frozen records, free of the ORM, so the turn core and its
in-memory fake (tests/fakes) work with the same types as the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"  # the LLM stream failed part-way
    CANCELLED = "cancelled"  # a client cancelled the run part-way
    STREAMING = "streaming"  # still being streamed (saved as it grows); a crash leaves it so


class ToolCallStatus(StrEnum):
    PENDING = "pending"  # waiting for approval, or not started yet
    DISPATCHED = "dispatched"  # sent to the IDE, waiting for its tool_result
    DONE = "done"
    FAILED = "failed"
    REFUSED = "refused"  # the agent may not make this call
    REJECTED = "rejected"  # a human said no
    EXPIRED = "expired"  # nobody answered in time
    CANCELLED = "cancelled"


OPEN_CALL_STATUSES = (ToolCallStatus.PENDING, ToolCallStatus.DISPATCHED)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class StoredSession:
    id: str
    current_agent: str
    running_since: datetime | None
    created_at: datetime
    updated_at: datetime
    owner: str | None = None  # the user who created it; None: the internal key


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    session_id: str
    role: str
    content: str
    agent: str | None
    status: MessageStatus
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    created_at: datetime
    notice: bool = False  # for people only (an agent switch, an interrupted run)
    details: dict[str, Any] | None = None  # a notice's facts beyond its text
    author: str | None = None  # who sent a user message (the audit trail's name)


@dataclass(frozen=True, slots=True)
class StoredQueued:
    """A user message accepted while a turn was in progress, not run yet."""

    id: int
    role: str
    content: str
    author: str | None = None


@dataclass(frozen=True, slots=True)
class StoredCall:
    id: str  # the call_id on the wire
    session_id: str
    agent: str
    tool_name: str
    arguments: dict[str, Any]
    status: ToolCallStatus
    result: Any
    error: str | None
    deadline: datetime | None  # when a dispatched call times out
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredApproval:
    call: StoredCall
    status: ApprovalStatus
    modified_arguments: dict[str, Any] | None
    feedback: str | None
    decided_by: str | None
    decider_role: str | None  # the DeciderRole of whoever decided
    expires_at: datetime | None
    created_at: datetime

    @property
    def session_id(self) -> str:
        return self.call.session_id


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """One decision anyone sent on an approval, including the ones that came too late."""

    decision: str
    decided_by: str
    accepted: bool
    modified_arguments: dict[str, Any] | None
    feedback: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredRule:
    id: int
    session_id: str
    tool_name: str
    pattern: str
    created_by: str
    created_at: datetime
    effect: str = "allow"  # or "deny"


@dataclass(frozen=True, slots=True)
class StoredUsage:
    """A session's token totals over the model calls that reported usage; `unreported_calls`
    counts those that did not (their tokens are unknown, not zero)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    model_calls: int = 0
    unreported_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class StoredModelCall:
    id: int
    session_id: str
    agent: str
    purpose: str  # "answer" (a turn's model call) or "routing"
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    created_at: datetime


class PlanStatus(StrEnum):
    PROPOSED = "proposed"  # waiting for the user's decision
    APPROVED = "approved"  # decided; no step started yet
    RUNNING = "running"
    DONE = "done"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"  # a step ended in an error


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StoredPlanStep:
    title: str
    agent: str
    description: str
    status: StepStatus = StepStatus.PENDING
    result: str | None = None  # what its agent answered, for the next steps and the proposer
    # The workspace's checkpoints when it started and ended (a hub workspace only): their
    # difference is what the step changed.
    checkpoint_before: str | None = None
    checkpoint_after: str | None = None


@dataclass(frozen=True, slots=True)
class StoredPlan:
    id: str  # the id of the call that proposed it
    session_id: str
    agent: str  # who proposed it, and is told the results
    title: str
    steps: tuple[StoredPlanStep, ...]
    status: PlanStatus
    feedback: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    def step_in(self, *statuses: StepStatus) -> int | None:
        """The index of the first step in one of these statuses."""
        return next((i for i, s in enumerate(self.steps) if s.status in statuses), None)
