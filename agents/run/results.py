"""What the IDE (or the user) answers to a parked call: its result, or nothing in time."""

from __future__ import annotations

from typing import Any

from agents.ports import HistoryStore
from agents.run import approvals
from agents.run.state import ASK_USER
from agents.run.steps import RunEvent, RunFailed, Wait
from agents.vocab import ErrorCode, Refusal
from db.records import ApprovalStatus, ToolCallStatus
from tools.mcp import PREFIX as MOUNTED

_IN_BAND = (ApprovalStatus.APPROVED, ApprovalStatus.EDITED)


async def take_result(
    store: HistoryStore, session_id: str, call_id: str, result: Any, error: str | None
) -> None:
    """Record an IDE's result (or a user's answer to a follow-up question); the caller lets the
    turn go on. Calls of other sessions, unknown calls and calls not waiting are refused."""
    record = await store.get_tool_call(call_id)
    if record is None or record.session_id != session_id:
        raise Refusal(ErrorCode.UNKNOWN_CALL, f"no tool call {call_id!r} is waiting")
    accepted_from: tuple[ToolCallStatus, ...] = (ToolCallStatus.DISPATCHED,)
    approval = await store.get_approval(call_id)
    in_band = approval is not None and approval.status in _IN_BAND
    in_band = in_band and not record.tool_name.startswith(MOUNTED)  # the hub runs those
    if record.tool_name == ASK_USER or in_band:
        # An IDE runs a call it approved itself, before the hub marks it dispatched.
        accepted_from += (ToolCallStatus.PENDING,)
    status = ToolCallStatus.FAILED if error else ToolCallStatus.DONE
    if not await store.finish_tool_call(call_id, status, result, error, only_from=accepted_from):
        raise Refusal(
            ErrorCode.UNKNOWN_CALL,
            f"tool call {call_id!r} is not waiting for a result (it is {record.status})",
        )


async def expire(store: HistoryStore, wait: Wait) -> RunEvent | None:
    """Nobody answered `wait` in time: an approval is rejected (`approvals.expire`), an IDE call
    failed. None if the answer came first."""
    if wait.kind == "approval":
        return await approvals.expire(store, wait.call_id)
    why = f"the IDE sent no tool_result for {wait.call_id} in time"
    if not await store.finish_tool_call(
        wait.call_id, ToolCallStatus.EXPIRED, None, why, only_from=(ToolCallStatus.DISPATCHED,)
    ):
        return None
    return RunFailed(ErrorCode.TOOL_TIMEOUT, why)
