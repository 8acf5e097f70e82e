"""Where a tool call stands, decoded from what the store says: the one reading of call
records, used by the tool runner as the turn goes on and by a session restored after a restart."""

from __future__ import annotations

import orjson

from agents.ports import HistoryStore
from agents.run import approvals
from agents.run.plans import PROPOSE
from agents.run.steps import CallState, Ready, Settled, Unseen, Wait, Waiting
from db.records import StoredApproval, StoredCall, ToolCallStatus

ASK_USER = "ask_followup_question"


async def load(store: HistoryStore, call_id: str) -> tuple[StoredCall | None, CallState]:
    record = await store.get_tool_call(call_id)
    if record is None:
        return None, Unseen()
    return record, await _decode(store, record)


async def _decode(store: HistoryStore, record: StoredCall) -> CallState:
    pending = record.status is ToolCallStatus.PENDING
    return decode(record, await store.get_approval(record.id) if pending else None)


def decode(record: StoredCall, approval: StoredApproval | None) -> CallState:
    if record.status is ToolCallStatus.DISPATCHED:
        return Waiting("tool_result", record.deadline)
    if record.status is not ToolCallStatus.PENDING:
        # Finished (e.g. the IDE's result arrived) but maybe not yet told to the model.
        return Settled(record.status.value, _content_of(record))  # type: ignore[arg-type]
    if record.tool_name == ASK_USER:
        return Waiting("answer")
    if record.tool_name == PROPOSE:
        return Waiting("plan")  # its decision finishes the call
    if approval is None:  # stopped between recording the call and running it
        return Ready(record.arguments, resend=True)
    return approvals.resume(approval)


async def open_waits(store: HistoryStore, session_id: str) -> tuple[list[Wait], bool]:
    """After a restart: the calls the stored turn is parked on, and whether some call can go
    on by itself (decided, not yet run), so the turn should continue."""
    waits: list[Wait] = []
    can_go_on = False
    for record in await store.open_tool_calls(session_id):
        match await _decode(store, record):
            case Waiting(kind=kind, deadline=deadline):
                args, since = record.arguments, record.created_at
                waits.append(
                    Wait(record.id, kind, record.tool_name, args, record.agent, deadline, since)
                )
            case _:
                can_go_on = True
    return waits, can_go_on


def _content_of(record: StoredCall) -> str:
    if record.status is not ToolCallStatus.DONE:
        return f"error: {record.error}"
    result = record.result
    return result if isinstance(result, str) else orjson.dumps(result).decode()
