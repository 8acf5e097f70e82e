"""Hub → client frames. Names and fields of the original gateway are kept as they were, so an
IDE written for it works unchanged; everything the hub adds is additive (new optional fields,
new frame types), and `EXTENSION_FRAME_TYPES` lists the frames the original never sent."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, TypeAdapter

from agents.vocab import (
    DecisionOutcome,
    ErrorCode,
    RunEndReason,
    RunState,
    SwitchMethod,
    ToolOutcomeStatus,
)
from db.records import MessageStatus, PlanStatus, StepStatus
from hub.protocol.base import PROTOCOL_VERSION, Frame


class HubFrameModel(Frame):
    session_id: str = Field(description="Hub extension: the session this frame belongs to.")
    seq: int = Field(
        ge=0,
        description="Hub extension: the session's stream position. Broadcast frames increase "
        "it by one; replies to a single client repeat the current position.",
    )
    ts: int = Field(description="Hub extension: milliseconds since the Unix epoch.")


class AssistantMessage(HubFrameModel):
    """One streamed piece of the answer; the last piece of a message has `is_final: true`."""

    type: Literal["assistant_message"] = "assistant_message"
    token: str
    is_final: bool


class ToolCall(HubFrameModel):
    """A tool the agent wants run. With `requires_approval`, a human must decide first."""

    type: Literal["tool_call"] = "tool_call"
    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    requires_approval: bool = False
    agent: str | None = Field(None, description="Hub extension: the agent making the call.")
    expires_at: str | None = Field(
        None, description="Hub extension: when an undecided approval is rejected (ISO 8601)."
    )
    diff: str | None = Field(
        None, description="Hub extension: for write_file, a unified diff against the current file."
    )


class ToolFinished(HubFrameModel):
    """Hub extension: how a tool call ended, and what the model was told."""

    type: Literal["tool_finished"] = "tool_finished"
    call_id: str
    tool_name: str
    status: ToolOutcomeStatus
    content: str


class FollowupQuestion(HubFrameModel):
    """Hub extension: the agent asks the user; the next `user_message` (or a `tool_result`
    with this `call_id`) is the answer."""

    type: Literal["followup_question"] = "followup_question"
    call_id: str
    question: str
    options: list[str] | None = None


class ApprovalExpiring(HubFrameModel):
    """Hub extension: an approval will be rejected soon if nobody decides."""

    type: Literal["approval_expiring"] = "approval_expiring"
    call_id: str
    expires_at: str


class AgentSwitched(HubFrameModel):
    type: Literal["agent_switched"] = "agent_switched"
    content: str
    from_agent: str
    to_agent: str
    reason: str
    confidence: str | None = None
    method: SwitchMethod = Field(
        "user",
        description="Hub extension: who switched: the user, the orchestrator's LLM routing, its "
        "keyword fallback, or an agent calling switch_mode.",
    )


class Error(HubFrameModel):
    type: Literal["error"] = "error"
    content: str = Field(description="Human-readable message, as in the original.")
    code: ErrorCode = Field(description="Hub extension: machine-readable reason.")


class PendingApproval(BaseModel):
    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    agent: str
    created_at: str
    expires_at: str | None = None


class SessionReady(HubFrameModel):
    """First frame on every connection: what the client needs to render the session."""

    type: Literal["session_ready"] = "session_ready"
    protocol_version: str = PROTOCOL_VERSION
    epoch: str = Field(
        description="The frame stream's identity: reconnect with `?last_seq=N&epoch=E` to get "
        "exactly the frames after N."
    )
    resumed: bool = Field(
        False, description="The frames after the client's `last_seq` follow, then live ones."
    )
    current_agent: str
    run_state: RunState
    pending_approvals: list[PendingApproval]


class HistoryMessage(BaseModel):
    id: int
    role: str
    content: str
    agent: str | None
    status: MessageStatus
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    created_at: str
    notice: bool = Field(False, description="For people only; never sent to the model.")
    details: dict[str, Any] | None = Field(
        None, description="A notice's facts, e.g. an agent switch's method and confidence."
    )
    author: str | None = Field(
        None, description="Who sent a user message: the client and, for a token, its user."
    )


class InFlightMessage(BaseModel):
    content: str
    agent: str
    status: Literal["streaming"] = "streaming"
    seq: int


class Resync(HubFrameModel):
    """Hub extension: the frames a resuming client missed are no longer all kept (or the hub
    restarted): rebuild from `messages`, the latest stored history, then follow live frames."""

    type: Literal["resync"] = "resync"
    reason: Literal["stream_restarted", "epoch_unknown", "gap_too_old", "replay_too_large"] = Field(
        description="`stream_restarted`: the epoch is one of this session's earlier streams (the "
        "hub restarted, or another process took the session over); `epoch_unknown`: it never "
        "was this session's; `gap_too_old`: the missed frames are no longer kept; "
        "`replay_too_large`: more missed frames than the client's send queue takes."
    )
    messages: list[HistoryMessage]
    in_flight: InFlightMessage | None = Field(
        None,
        description="The assistant message being streamed right now, as far as frame `seq`: "
        "its text plus the live tokens after that seq are the whole message.",
    )


class MessageQueued(HubFrameModel):
    """A user message arrived during a run; it will run next, in this position."""

    type: Literal["message_queued"] = "message_queued"
    position: int = Field(ge=1)
    content: str


class RunStarted(HubFrameModel):
    type: Literal["run_started"] = "run_started"
    run_id: str
    agent: str
    kind: Literal["message", "continue"] = Field(
        "message",
        description="`continue`: the turn goes on after a decision, a tool result or an answer.",
    )


class RunFinished(HubFrameModel):
    type: Literal["run_finished"] = "run_finished"
    run_id: str
    reason: RunEndReason = Field(
        description="`waiting`: the turn is parked until the calls in `waiting_for` are "
        "decided, answered or run; it then continues in a new run."
    )
    message_id: int | None = Field(None, description="Stored assistant message, if any.")
    waiting_for: list[str] = Field(default_factory=list)


class ApprovalResolved(HubFrameModel):
    type: Literal["approval_resolved"] = "approval_resolved"
    call_id: str
    decision: DecisionOutcome
    decided_by: str
    arguments: dict[str, Any] | None = Field(None, description="The arguments that will run.")
    feedback: str | None = None


class TokenCounts(BaseModel):
    """Tokens as the model reported them; null where it reported none (unknown, not zero)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cached_tokens: int | None = Field(None, description="Of the prompt, served from cache.")
    cost_usd: float | None = Field(
        None, description="Estimated from AGENT_RUNTIME__LLM_PRICES; null without it."
    )


class SessionUsage(TokenCounts):
    model_calls: int
    unreported_calls: int = Field(description="Model calls that reported no usage.")


class UsageReport(HubFrameModel, TokenCounts):
    """Hub extension: the tokens of one model call (`scope: call`) or of a run's calls
    (`scope: run`, sent before `run_finished`), with the session's running totals."""

    type: Literal["usage"] = "usage"
    scope: Literal["call", "run"]
    agent: str
    model_calls: int
    unreported_calls: int
    session: SessionUsage
    context_tokens: int | None = Field(
        None, description="The model's context window (AGENT_RUNTIME__LLM_CONTEXT_TOKENS)."
    )


class PlanStep(BaseModel):
    title: str
    agent: str = Field(description="The specialist that does the step.")
    description: str
    status: StepStatus = StepStatus.PENDING
    result: str | None = Field(None, description="What its agent answered, once it is done.")
    checkpoint_before: str | None = Field(
        None, description="On a hub workspace: the checkpoint taken when the step started."
    )
    checkpoint_after: str | None = Field(
        None, description="… and when it ended: their difference is what the step changed."
    )


class PlanApprovalRequired(HubFrameModel):
    """An agent proposes a plan; answer with `plan_decision` (its `approval_request_id`)."""

    type: Literal["plan_approval_required"] = "plan_approval_required"
    content: str = Field(description="The plan as text, for a client that shows only this.")
    approval_request_id: str = Field(description="The id of the call that proposed the plan.")
    plan_id: str = Field(description="The same id: a plan is named by the call that proposed it.")
    plan_summary: dict[str, Any] = Field(description='{"title": …, "steps": [{"title", "agent", '
                                         '"description"}, …]}')  # fmt: skip
    agent: str | None = Field(None, description="Hub extension: the agent proposing it.")


class PlanUpdated(HubFrameModel):
    """Hub extension: a plan was decided, or one of its steps started or ended."""

    type: Literal["plan_updated"] = "plan_updated"
    plan_id: str
    title: str
    status: PlanStatus
    steps: list[PlanStep]
    feedback: str | None = None


class Pong(HubFrameModel):
    type: Literal["pong"] = "pong"
    data: str | None = None


HubFrame = Annotated[
    AssistantMessage
    | ToolCall
    | AgentSwitched
    | Error
    | SessionReady
    | MessageQueued
    | RunStarted
    | RunFinished
    | ApprovalResolved
    | ApprovalExpiring
    | ToolFinished
    | FollowupQuestion
    | Resync
    | UsageReport
    | PlanApprovalRequired
    | PlanUpdated
    | Pong,
    Discriminator("type"),
]

# Frames an IDE written for the original gateway never saw; it may ignore them safely.
EXTENSION_FRAME_TYPES = frozenset(
    {
        "session_ready",
        "message_queued",
        "run_started",
        "run_finished",
        "approval_resolved",
        "approval_expiring",
        "tool_finished",
        "followup_question",
        "resync",
        "usage",
        "plan_updated",
        "pong",
    }
)

hub_frame_adapter: TypeAdapter[HubFrame] = TypeAdapter(HubFrame)
