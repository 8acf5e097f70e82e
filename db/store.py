"""Queries on sessions and history, shared by every transport. Plain async functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise import Tortoise
from tortoise.migrations.api import migrate

from db.config import ensure_sqlite_directory, tortoise_config
from db.models import (
    Approval,
    ApprovalStatus,
    ChatSession,
    Message,
    MessageStatus,
    ToolCallRecord,
    ToolCallStatus,
)


async def apply_migrations(database_url: str) -> None:
    """Bring the schema up to date; safe to call on every start."""
    ensure_sqlite_directory(database_url)
    await migrate(config=tortoise_config(database_url))
    await Tortoise.close_connections()


async def database_reachable() -> bool:
    try:
        await ChatSession.filter(id="").exists()
    except Exception:
        return False
    return True


async def get_or_create_session(session_id: str, default_agent: str) -> ChatSession:
    session, _ = await ChatSession.get_or_create(
        id=session_id, defaults={"current_agent": default_agent}
    )
    return session


async def get_session(session_id: str) -> ChatSession | None:
    return await ChatSession.get_or_none(id=session_id)


async def list_sessions(limit: int, before: datetime | None = None) -> list[ChatSession]:
    """Newest first; pass the last `created_at` seen as `before` for the next page."""
    query = ChatSession.all()
    if before is not None:
        query = query.filter(created_at__lt=before)
    return await query.order_by("-created_at", "-id").limit(limit)


async def set_current_agent(session_id: str, agent: str) -> None:
    await ChatSession.filter(id=session_id).update(current_agent=agent)


async def add_message(
    session_id: str,
    role: str,
    content: str,
    *,
    agent: str | None = None,
    status: MessageStatus = MessageStatus.COMPLETE,
    tool_calls: Sequence[dict[str, Any]] | None = None,
    tool_call_id: str | None = None,
) -> Message:
    return await Message.create(
        session_id=session_id,
        role=role,
        content=content,
        agent=agent,
        status=status,
        tool_calls=list(tool_calls) if tool_calls else None,
        tool_call_id=tool_call_id,
    )


async def history(session_id: str, limit: int, before: int | None = None) -> list[Message]:
    """The `limit` messages before message id `before` (or the latest), oldest first."""
    query = Message.filter(session_id=session_id)
    if before is not None:
        query = query.filter(id__lt=before)
    newest_first = await query.order_by("-id").limit(limit)
    return newest_first[::-1]


async def pending_approvals(session_id: str) -> list[Approval]:
    return (
        await Approval.filter(session_id=session_id, status=ApprovalStatus.PENDING)
        .prefetch_related("call")
        .order_by("id")
    )


async def record_tool_call(
    call_id: str, session_id: str, agent: str, tool_name: str, arguments: dict[str, Any]
) -> ToolCallRecord:
    return await ToolCallRecord.create(
        id=call_id, session_id=session_id, agent=agent, tool_name=tool_name, arguments=arguments
    )


async def finish_tool_call(
    call_id: str, status: ToolCallStatus, result: Any, error: str | None
) -> None:
    # Tortoise's JSONField takes a str as already-encoded JSON, so encode every value first.
    await ToolCallRecord.filter(id=call_id).update(
        status=status,
        result=orjson.dumps(result).decode(),
        error=error,
        finished_at=datetime.now(UTC),
    )
