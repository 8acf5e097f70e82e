"""What clients answer to a parked turn: decisions on approvals, tool results, expiries.

Each answer is recorded in the database first (so the first decision wins, and a restart loses
nothing), then told to every client, then the turn is asked to go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.definitions import AGENTS
from agents.events import Wait
from db import store
from db.models import ApprovalStatus, ToolCallStatus
from hub import protocol as p
from tools.approval import subject
from tools.permissions import refusal
from tools.registry import TOOLS, InvalidArguments, parse_arguments

if TYPE_CHECKING:
    from hub.session import LiveSession

_DECISIONS = {
    "approve": ApprovalStatus.APPROVED,
    "edit": ApprovalStatus.EDITED,
    "reject": ApprovalStatus.REJECTED,
}


class SessionError(Exception):
    """A request the session refuses; `code` says why, the message says it to a human."""

    def __init__(self, code: p.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


async def decide(session: LiveSession, decision: p.HitlDecision, decided_by: str) -> str:
    """Record a human's decision on a pending approval; returns the run that goes on."""
    approval = await store.get_approval(decision.call_id)
    if approval is None or approval.session_id != session.id:
        raise SessionError(p.ErrorCode.UNKNOWN_CALL, f"no approval for call {decision.call_id!r}")
    call = approval.call
    arguments = call.arguments
    if decision.decision == "edit":
        arguments = _edited(call.tool_name, call.agent, arguments, decision)
    modified = arguments if decision.decision == "edit" else None
    status = _DECISIONS[decision.decision]
    if not await store.decide_approval(call.id, status, decided_by, modified, decision.feedback):
        current = await store.get_approval(call.id)
        state = current.status.value if current else "decided"
        by = current.decided_by if current else "?"
        raise SessionError(
            p.ErrorCode.ALREADY_DECIDED, f"call {call.id!r} was already {state} by {by}"
        )
    if decision.always_allow and decision.decision != "reject":
        args = parse_arguments(TOOLS[call.tool_name], arguments)
        pattern = decision.allow_pattern or subject(args) or "*"
        await store.add_allow_rule(session.id, call.tool_name, pattern, decided_by)
    session.approval_resolved(
        call.id,
        decision.decision,
        decided_by,
        decision.feedback,
        None if decision.decision == "reject" else arguments,
    )
    return session.request_continue()


def _edited(
    tool_name: str, agent: str, arguments: dict[str, Any], decision: p.HitlDecision
) -> dict[str, Any]:
    if not decision.modified_arguments:
        raise SessionError(p.ErrorCode.INVALID_DECISION, "edit needs modified_arguments")
    try:
        args = parse_arguments(TOOLS[tool_name], {**arguments, **decision.modified_arguments})
    except InvalidArguments as exc:
        raise SessionError(p.ErrorCode.INVALID_DECISION, str(exc)) from None
    if (why := refusal(AGENTS[agent], tool_name, args)) is not None:
        raise SessionError(p.ErrorCode.INVALID_DECISION, f"refused: {why}")
    return args.model_dump(exclude_unset=True)


async def take_tool_result(
    session: LiveSession, call_id: str, result: Any, error: str | None
) -> str:
    """Take an IDE's result (or a user's answer); returns the run that goes on."""
    record = await store.get_tool_call(call_id)
    if record is None or record.session_id != session.id:
        raise SessionError(p.ErrorCode.UNKNOWN_CALL, f"no tool call {call_id!r} is waiting")
    accepted_from: tuple[ToolCallStatus, ...] = (ToolCallStatus.DISPATCHED,)
    approval = await store.get_approval(call_id)
    in_band = approval is not None and approval.status in (
        ApprovalStatus.APPROVED,
        ApprovalStatus.EDITED,
    )
    if record.tool_name == "ask_followup_question" or in_band:
        # An IDE runs a call it approved itself, before the hub marks it dispatched.
        accepted_from += (ToolCallStatus.PENDING,)
    status = ToolCallStatus.FAILED if error else ToolCallStatus.DONE
    if not await store.finish_tool_call(call_id, status, result, error, only_from=accepted_from):
        raise SessionError(
            p.ErrorCode.UNKNOWN_CALL,
            f"tool call {call_id!r} is not waiting for a result (it is {record.status})",
        )
    session.waits.resolve(call_id)
    return session.request_continue()


async def expire(session: LiveSession, wait: Wait) -> None:
    """Nobody answered in time: the approval is rejected, or the IDE call failed."""
    if wait.kind == "approval":
        why = "nobody decided in time"
        if await store.decide_approval(
            wait.call_id, ApprovalStatus.EXPIRED, "timeout", feedback=why
        ):
            session.approval_resolved(wait.call_id, "expired", "timeout", why)
            session.request_continue()
        return
    why = f"the IDE sent no tool_result for {wait.call_id} in time"
    if await store.finish_tool_call(
        wait.call_id, ToolCallStatus.EXPIRED, None, why, only_from=(ToolCallStatus.DISPATCHED,)
    ):
        session.waits.resolve(wait.call_id)
        session.error(p.ErrorCode.TOOL_TIMEOUT, why)
        session.request_continue()
