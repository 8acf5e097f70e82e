"""The wire protocol: every frame of the IDE socket, defined once.

Frame names and fields of the original gateway are kept as they were, so an IDE written for it
works unchanged; everything the hub adds is additive (new optional fields, new frame types).
Client frames are validated with `parse_client_frame`; hub frames are built by the session and
encoded with orjson on the hot path, matching these models byte for byte in meaning.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Discriminator, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = "1.0"

# "tool" of the original is refused here: tool output arrives as `tool_result` with its call_id.
Role = Literal["user", "assistant", "system"]
RunEndReason = Literal["completed", "cancelled", "error", "waiting"]
ToolOutcomeStatus = Literal["done", "failed", "refused", "rejected", "expired", "cancelled"]
DecisionOutcome = Literal["approve", "edit", "reject", "expired", "cancelled"]


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    UNKNOWN_FRAME_TYPE = "unknown_frame_type"
    INVALID_FRAME = "invalid_frame"
    FRAME_TOO_LARGE = "frame_too_large"
    UNKNOWN_CALL = "unknown_call"
    UNKNOWN_AGENT = "unknown_agent"
    NOT_SUPPORTED = "not_supported"
    LLM_ERROR = "llm_error"
    MAX_STEPS = "max_steps"
    TOOL_TIMEOUT = "tool_timeout"
    ALREADY_DECIDED = "already_decided"
    INVALID_DECISION = "invalid_decision"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"


def _type_is_required(schema: dict[str, Any]) -> None:
    # `type` has a default for building frames in code, but it is required on the wire.
    schema["required"] = ["type", *[f for f in schema.get("required", []) if f != "type"]]


class _Frame(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra=_type_is_required,
        # The hub always sends every field, so the HubFrame schema lists them all as required.
        json_schema_serialization_defaults_required=True,
    )


# --- client -> hub -------------------------------------------------------------------------


class UserMessage(_Frame):
    """A message from the user; starts a run, or is queued behind the running one."""

    type: Literal["user_message"] = "user_message"
    content: str
    role: Role = "user"
    interrupt: bool = Field(
        False, description="Hub extension: cancel the turn in progress and run this one next."
    )


class ToolResult(_Frame):
    """The IDE's answer to a `tool_call`, correlated by `call_id`."""

    type: Literal["tool_result"] = "tool_result"
    call_id: str
    result: Any = None
    error: str | None = None


class HitlDecision(_Frame):
    """The user's answer to a `tool_call` that had `requires_approval: true`."""

    type: Literal["hitl_decision"] = "hitl_decision"
    call_id: str
    decision: Literal["approve", "edit", "reject"]
    modified_arguments: dict[str, Any] | None = Field(
        None, description="With `edit`: the arguments to use (merged over the model's)."
    )
    feedback: str | None = Field(None, description="With `reject`: told to the model.")
    always_allow: bool = Field(
        False, description="Hub extension: also allow matching calls in this session from now on."
    )
    allow_pattern: str | None = Field(
        None,
        description="Hub extension: the rule's command prefix or path glob; by default this "
        "call's exact command or path.",
    )


class SwitchAgent(_Frame):
    """The user moves the session to another agent; the conversation goes with it."""

    type: Literal["switch_agent"] = "switch_agent"
    agent_type: str
    content: str = ""
    reason: str | None = None


class PlanDecision(_Frame):
    """Answer to a plan approval (later versions of the original); the hub has no plans yet."""

    type: Literal["plan_decision"] = "plan_decision"
    approval_request_id: str
    decision: Literal["approve", "reject", "modify"]
    feedback: str | None = None


class Cancel(_Frame):
    """Hub extension: stop the running turn; the partial answer is kept, marked cancelled."""

    type: Literal["cancel"] = "cancel"
    reason: str | None = None


class Ping(_Frame):
    """Hub extension: liveness check; answered by `pong` carrying the same `data`."""

    type: Literal["ping"] = "ping"
    data: str | None = None


ClientFrame = Annotated[
    UserMessage | ToolResult | HitlDecision | SwitchAgent | PlanDecision | Cancel | Ping,
    Discriminator("type"),
]
CLIENT_FRAME_TYPES = frozenset(
    m.model_fields["type"].default
    for m in (UserMessage, ToolResult, HitlDecision, SwitchAgent, PlanDecision, Cancel, Ping)
)


# --- hub -> client -------------------------------------------------------------------------


class HubFrameModel(_Frame):
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
    method: Literal["user", "llm", "keywords", "agent"] = Field(
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
    run_state: Literal["idle", "running", "waiting"]
    pending_approvals: list[PendingApproval]


class HistoryMessage(BaseModel):
    id: int
    role: str
    content: str
    agent: str | None
    status: Literal["complete", "interrupted", "cancelled"]
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    created_at: str


class Resync(HubFrameModel):
    """Hub extension: the frames a resuming client missed are no longer all kept (or the hub
    restarted): rebuild from `messages`, the latest stored history, then follow live frames."""

    type: Literal["resync"] = "resync"
    reason: Literal["epoch_changed", "gap_too_old"]
    messages: list[HistoryMessage]


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
        "pong",
    }
)

client_frame_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
hub_frame_adapter: TypeAdapter[HubFrame] = TypeAdapter(HubFrame)


def json_schema() -> dict[str, Any]:
    """One JSON Schema document; validate against `#/$defs/ClientFrame` or `HubFrame`."""
    defs: dict[str, Any] = {}
    for name, adapter, mode in (
        ("ClientFrame", client_frame_adapter, "validation"),
        ("HubFrame", hub_frame_adapter, "serialization"),
    ):
        union = adapter.json_schema(mode=mode)  # type: ignore[arg-type]
        defs.update(union.pop("$defs"))
        defs[name] = union
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "agent-hub/protocol.schema.json",
        "title": "agent hub socket protocol",
        "x-protocol-version": PROTOCOL_VERSION,
        "$defs": defs,
        "anyOf": [{"$ref": "#/$defs/ClientFrame"}, {"$ref": "#/$defs/HubFrame"}],
    }


class FrameRejected(Exception):
    """A client frame the hub cannot accept; answered with an `error` frame of this code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_frame(raw: str | bytes, max_bytes: int) -> ClientFrame:
    """Validate one frame from a client, or raise `FrameRejected` saying exactly why."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise FrameRejected(
            ErrorCode.FRAME_TOO_LARGE, f"frame of {size} bytes exceeds the limit of {max_bytes}"
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FrameRejected(ErrorCode.INVALID_JSON, f"frame is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise FrameRejected(
            ErrorCode.INVALID_FRAME, "frame must be a JSON object with a string 'type'"
        )
    if data["type"] not in CLIENT_FRAME_TYPES:
        known = ", ".join(sorted(CLIENT_FRAME_TYPES))
        raise FrameRejected(
            ErrorCode.UNKNOWN_FRAME_TYPE,
            f"unknown frame type {data['type']!r}; expected one of: {known}",
        )
    try:
        return client_frame_adapter.validate_python(data)
    except ValidationError as exc:
        raise FrameRejected(ErrorCode.INVALID_FRAME, _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"][1:]) or "frame"
        problems.append(f"{where}: {err['msg']}")
    return "invalid frame: " + "; ".join(problems)


SESSION_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)


def is_session_id(value: str) -> bool:
    return _SESSION_ID.match(value) is not None
