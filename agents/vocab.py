"""Words the whole hub shares, defined once: how runs end, how calls end, who switched, why a
request was refused. The wire protocol, the stored history and the turn core all use these."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

# "tool" is not among them: tool output arrives as a `tool_result` with its call_id.
MessageRole = Literal["user", "assistant", "system"]
RunEndReason = Literal["completed", "cancelled", "error", "waiting"]
RunState = Literal["idle", "running", "waiting"]
ToolOutcomeStatus = Literal["done", "failed", "refused", "rejected", "expired", "cancelled"]
DecisionOutcome = Literal["approve", "edit", "reject", "expired", "cancelled"]
Verdict = Literal["approve", "edit", "reject"]
SwitchMethod = Literal["user", "llm", "keywords", "agent", "plan"]
WaitKind = Literal["approval", "tool_result", "answer", "plan"]
# How the model is offered tools: the API's function calling, or a block in its reply's text.
ToolCallFormat = Literal["native", "text"]
# Who sends commands: an IDE runs the calls it approves itself; the others only watch or answer.
ClientRole = Literal["ide", "console", "sse", "rest"]
# Who decides an approval: a client, or the hub itself when it expires or is cancelled.
DeciderRole = Literal["ide", "console", "sse", "rest", "timeout", "cancel"]


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
    CONTEXT_TOO_LONG = "context_too_long"
    TOOL_TIMEOUT = "tool_timeout"
    ALREADY_DECIDED = "already_decided"
    INVALID_DECISION = "invalid_decision"
    RATE_LIMITED = "rate_limited"
    SESSION_CLOSED = "session_closed"
    DATABASE_ERROR = "database_error"
    INTERNAL_ERROR = "internal_error"


class Refusal(Exception):
    """A request the session refuses; `code` says why, the message says it to a human."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
