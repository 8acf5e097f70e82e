"""ORM rows to the plain records of `db.records`: the one place that reads ORM objects."""

from __future__ import annotations

from db.models import AllowRule, Approval, ApprovalAudit, ChatSession, Message, ToolCallRecord
from db.records import (
    StoredApproval,
    StoredCall,
    StoredDecision,
    StoredMessage,
    StoredRule,
    StoredSession,
)


def session(row: ChatSession) -> StoredSession:
    return StoredSession(
        row.id, row.current_agent, row.running_since, row.created_at, row.updated_at, row.owner
    )


def message(row: Message) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        session_id=row.session_id,  # type: ignore[attr-defined]  # Tortoise's FK column
        role=row.role,
        content=row.content,
        agent=row.agent,
        status=row.status,
        tool_calls=row.tool_calls,
        tool_call_id=row.tool_call_id,
        created_at=row.created_at,
        notice=row.notice,
        details=row.details,
        author=row.author,
    )


def call(row: ToolCallRecord) -> StoredCall:
    return StoredCall(
        id=row.id,
        session_id=row.session_id,
        agent=row.agent,
        tool_name=row.tool_name,
        arguments=row.arguments,
        status=row.status,
        result=row.result,
        error=row.error,
        deadline=row.deadline,
        created_at=row.created_at,
    )


def approval(row: Approval) -> StoredApproval:
    """`row.call` must have been fetched with it (`prefetch_related("call")`)."""
    return StoredApproval(
        call=call(row.call),
        status=row.status,
        modified_arguments=row.modified_arguments,
        feedback=row.feedback,
        decided_by=row.decided_by,
        decider_role=row.decider_role,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


def decision(row: ApprovalAudit) -> StoredDecision:
    return StoredDecision(
        row.decision,
        row.decided_by,
        row.accepted,
        row.modified_arguments,
        row.feedback,
        row.created_at,
    )


def rule(row: AllowRule) -> StoredRule:
    return StoredRule(
        row.id,
        row.session_id,  # type: ignore[attr-defined]  # Tortoise's FK column
        row.tool_name,
        row.pattern,
        row.created_by,
        row.created_at,
        row.effect,
    )
