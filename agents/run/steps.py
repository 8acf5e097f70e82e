"""The typed vocabulary of a turn: what each step leads to, and what a run tells the world.

Each step of `TurnEngine` ends in one `NextStep`, dispatched by one `match`; everything a run
makes visible is a `RunEvent` handed to the `RunSink` (text deltas excepted: `RunSink.token`
is the hot path and takes a plain `str`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from agents.definitions import AgentSpec
from agents.ports import HistoryStore
from agents.run.conversation import Conversation
from agents.usage import RunningTotals, Usage
from agents.vocab import DecisionOutcome, ErrorCode, SwitchMethod, ToolOutcomeStatus, WaitKind
from db.records import StoredPlan, StoredUsage

# --- next steps ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A call of the last assistant message that has no answer in the history yet."""

    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    agent: str


@dataclass(frozen=True, slots=True)
class RunTools:
    """The model asked for these calls; settle them before the model runs again."""

    calls: tuple[OpenCall, ...]


@dataclass(frozen=True, slots=True)
class Handoff:
    """Another agent takes the conversation (routing, or the user's choice)."""

    to_agent: str
    reason: str
    method: SwitchMethod
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Interruption:
    """The turn parks on calls that need a human, the IDE or an answer."""

    call_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FinalOutput:
    message_id: int | None


@dataclass(frozen=True, slots=True)
class RunAgain:
    """The calls are answered: the model reads their results next."""


@dataclass(frozen=True, slots=True)
class StepFailed:
    code: ErrorCode
    message: str


NextStep = RunTools | Handoff | Interruption | FinalOutput | RunAgain | StepFailed


# --- where a call stands (decoded from storage by `agents.run.state`) ------------------------


@dataclass(frozen=True, slots=True)
class Unseen:
    """No record yet: the model just asked for it."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """Parked on a human, the IDE or an answer, until `deadline` if there is one."""

    kind: WaitKind
    deadline: datetime | None = None


@dataclass(frozen=True, slots=True)
class Ready:
    """May run now with these arguments; `resend`: the IDE has not been sent the call yet."""

    arguments: dict[str, Any]
    resend: bool


@dataclass(frozen=True, slots=True)
class Settled:
    """Ended (run, refused, rejected, expired): the model is told `content`."""

    status: ToolOutcomeStatus
    content: str


CallState = Unseen | Waiting | Ready | Settled


# --- what a run makes visible ----------------------------------------------------------------


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
class MessageEnded:
    """The streamed assistant message is complete (`is_final: true` on the wire)."""


@dataclass(frozen=True, slots=True)
class MessageStored:
    """The streamed assistant message is in the history now (complete, or partial)."""

    message_id: int


@dataclass(frozen=True, slots=True)
class RunFailed:
    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class AgentSwitched:
    from_agent: str
    to_agent: str
    reason: str
    method: SwitchMethod
    confidence: float | None
    note: str  # the notice stored in the history


@dataclass(frozen=True, slots=True)
class ToolStarted:
    """The hub takes a call up: on first sight, or once it is decided. No client sees this;
    it is where the call's span opens."""

    call_id: str
    tool_name: str
    agent: str


@dataclass(frozen=True, slots=True)
class ToolAnnounced:
    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    agent: str
    requires_approval: bool
    expires_at: datetime | None = None
    diff: str | None = None


@dataclass(frozen=True, slots=True)
class ToolFinished:
    call_id: str
    tool_name: str
    status: ToolOutcomeStatus
    content: str


@dataclass(frozen=True, slots=True)
class QuestionAsked:
    call_id: str
    question: str
    options: list[str] | None


@dataclass(frozen=True, slots=True)
class PlanProposed:
    """A plan waits for the user's decision."""

    plan: StoredPlan


@dataclass(frozen=True, slots=True)
class PlanUpdated:
    """A plan was decided, or one of its steps started or ended."""

    plan: StoredPlan


@dataclass(frozen=True, slots=True)
class ApprovalResolved:
    call_id: str
    decision: DecisionOutcome
    decided_by: str
    feedback: str | None = None
    arguments: dict[str, Any] | None = None  # what runs; None when nothing will


@dataclass(frozen=True, slots=True)
class ApprovalExpiring:
    call_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Awaiting:
    """The run parks on this call; the sink keeps it to re-send and arms its deadline."""

    wait: Wait


@dataclass(frozen=True, slots=True)
class UsageReported:
    """Tokens of one model call (`scope="call"`) or of a whole run (`"run"`), and the
    session's totals. `usage` None: the model reported none (unknown, not zero)."""

    scope: Literal["call", "run"]
    agent: str
    usage: Usage | None
    model_calls: int
    unreported_calls: int  # of `model_calls`, those whose tokens are unknown
    cost_usd: float | None  # None: no price table, or nothing reported
    session: StoredUsage
    session_cost_usd: float | None
    context_tokens: int | None = None  # the model's window, where configured


RunEvent = (
    MessageEnded
    | MessageStored
    | RunFailed
    | AgentSwitched
    | ToolStarted
    | ToolAnnounced
    | ToolFinished
    | QuestionAsked
    | PlanProposed
    | PlanUpdated
    | ApprovalResolved
    | ApprovalExpiring
    | Awaiting
    | UsageReported
)


class RunSink(Protocol):
    """Where a run's output goes. `token` is the hot path and must not block."""

    @property
    def agent(self) -> AgentSpec:
        """The agent the session is on now (a user may switch it during a run)."""

    @property
    def client_tools(self) -> Mapping[str, dict[str, Any]]:
        """Tools the client runs itself, by name, as the model is offered them."""

    @property
    def stopping(self) -> bool:
        """The hub is shutting the session down: a cancel now is not the user's."""

    def token(self, text: str) -> None: ...

    def emit(self, event: RunEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every step of one run works with."""

    session_id: str
    store: HistoryStore
    sink: RunSink
    conversation: Conversation = field(init=False)
    usage_totals: RunningTotals = field(init=False, default_factory=RunningTotals)

    def __post_init__(self) -> None:
        object.__setattr__(self, "conversation", Conversation(self.store, self.session_id))
