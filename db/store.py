"""The database behind every session: `Store` implements the turn core's `HistoryStore` (and
what the REST endpoints read) on Tortoise ORM, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from db import rows
from db.batch import WriteBatch
from db.config import sqlite_file
from db.health import DatabaseState, database_state
from db.models import (
    AllowRule,
    Approval,
    ApprovalAudit,
    ChatSession,
    Message,
    QueuedMessage,
    ToolCallRecord,
)
from db.records import (
    OPEN_CALL_STATUSES,
    ApprovalStatus,
    MessageStatus,
    StoredApproval,
    StoredCall,
    StoredDecision,
    StoredMessage,
    StoredQueued,
    StoredRule,
    StoredSession,
    ToolCallStatus,
)
from db.text import storable


def _json(value: Any) -> str:
    # Tortoise's JSONField takes a str as already-encoded JSON, so every value is encoded first.
    return orjson.dumps(value).decode()


class Store:
    """Plain async queries; every method returns `db.records` types, never ORM rows."""

    def __init__(self, database_url: str | None = None) -> None:
        self._sqlite_file = sqlite_file(database_url) if database_url else None
        self._running_marks = WriteBatch(_store_running_marks)

    async def database_state(self) -> DatabaseState:
        return await database_state(self._sqlite_file)

    # --- sessions ---------------------------------------------------------------------------

    async def get_or_create_session(
        self, session_id: str, default_agent: str, owner: str | None = None
    ) -> StoredSession:
        """The session; a new one belongs to `owner` (an existing one keeps its own)."""
        row, _ = await ChatSession.get_or_create(
            id=session_id, defaults={"current_agent": default_agent, "owner": owner}
        )
        return rows.session(row)

    async def get_session(self, session_id: str) -> StoredSession | None:
        row = await ChatSession.get_or_none(id=session_id)
        return rows.session(row) if row is not None else None

    async def list_sessions(
        self,
        limit: int,
        before: datetime | None = None,
        search: str | None = None,
        owner: str | None = None,
    ) -> list[StoredSession]:
        """Newest first; pass the last `created_at` seen as `before` for the next page;
        `search` keeps the sessions whose id contains it (any case); `owner`: only that
        user's (None: everyone's)."""
        query = ChatSession.all() if owner is None else ChatSession.filter(owner=owner)
        if search:
            query = query.filter(id__icontains=search)
        if before is not None:
            query = query.filter(created_at__lt=before)
        return [rows.session(r) for r in await query.order_by("-created_at", "-id").limit(limit)]

    async def record_epoch(self, session_id: str, epoch: str, keep: int = 20) -> list[str]:
        """Remember a new frame stream of the session; the epochs it had before."""
        row = await ChatSession.get(id=session_id)
        earlier = list(row.epochs or [])
        await ChatSession.filter(id=session_id).update(epochs=_json([*earlier, epoch][-keep:]))
        return earlier

    # A query's `update` skips `auto_now`: these say themselves that the session was active.
    async def set_current_agent(self, session_id: str, agent: str) -> None:
        now = datetime.now(UTC)
        await ChatSession.filter(id=session_id).update(current_agent=agent, updated_at=now)

    async def mark_running(self, session_id: str, running: bool) -> None:
        await self._running_marks.write((session_id, running))

    async def running_sessions(self) -> list[str]:
        """Sessions whose run had started and not ended, as the database says."""
        return [s.id for s in await ChatSession.filter(running_since__isnull=False)]

    async def mark_interrupted(self, session_ids: list[str], note: str) -> None:
        """Close runs a crash interrupted, with a note in their history; the answer that was
        streaming keeps the text saved so far, marked interrupted."""
        streaming = Message.filter(session_id__in=session_ids, status=MessageStatus.STREAMING)
        await streaming.update(status=MessageStatus.INTERRUPTED)
        for session_id in session_ids:
            await self.add_message(
                session_id, "system", note, status=MessageStatus.INTERRUPTED, notice=True
            )
        await ChatSession.filter(id__in=session_ids).update(running_since=None)

    # --- messages ---------------------------------------------------------------------------

    async def add_message(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        agent: str | None = None,
        status: MessageStatus = MessageStatus.COMPLETE,
        tool_calls: Sequence[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        notice: bool = False,
        details: dict[str, Any] | None = None,
        author: str | None = None,
    ) -> StoredMessage:
        """`notice`: a message for people only, kept out of the model's context."""
        row = await Message.create(
            session_id=session_id,
            role=role,
            content=storable(content),
            agent=agent,
            status=status,
            tool_calls=storable(list(tool_calls)) if tool_calls else None,
            tool_call_id=tool_call_id,
            notice=notice,
            details=storable(details) if details else None,
            author=storable(author),
        )
        return rows.message(row)

    async def update_message(
        self,
        message_id: int,
        content: str,
        *,
        status: MessageStatus,
        tool_calls: Sequence[dict[str, Any]] | None = None,
    ) -> StoredMessage:
        """Rewrite a message that was saved while it streamed."""
        row = await Message.get(id=message_id)
        row.content, row.status = storable(content), status
        row.tool_calls = storable(list(tool_calls)) if tool_calls else None
        await row.save(update_fields=["content", "status", "tool_calls"])
        return rows.message(row)

    async def history(
        self, session_id: str, limit: int, before: int | None = None
    ) -> list[StoredMessage]:
        """The `limit` messages before message id `before` (or the latest), oldest first."""
        query = Message.filter(session_id=session_id)
        if before is not None:
            query = query.filter(id__lt=before)
        newest_first = await query.order_by("-id").limit(limit)
        return [rows.message(m) for m in reversed(newest_first)]

    async def queue_message(
        self, session_id: str, role: str, content: str, author: str | None = None
    ) -> int:
        row = await QueuedMessage.create(
            session_id=session_id, role=role, content=storable(content), author=storable(author)
        )
        return int(row.id)

    async def unqueue_message(self, queued_id: int) -> None:
        await QueuedMessage.filter(id=queued_id).delete()

    async def queued_messages(self, session_id: str) -> list[StoredQueued]:
        """The messages still waiting to run, oldest first."""
        rows_ = await QueuedMessage.filter(session_id=session_id).order_by("id")
        return [StoredQueued(r.id, r.role, r.content, r.author) for r in rows_]

    # --- tool calls -------------------------------------------------------------------------

    async def create_tool_call(
        self, call_id: str, session_id: str, agent: str, tool_name: str, arguments: dict[str, Any]
    ) -> StoredCall:
        row = await ToolCallRecord.create(
            id=call_id,
            session_id=session_id,
            agent=agent,
            tool_name=tool_name,
            arguments=storable(arguments),
        )
        return rows.call(row)

    async def get_tool_call(self, call_id: str) -> StoredCall | None:
        row = await ToolCallRecord.get_or_none(id=call_id)
        return rows.call(row) if row is not None else None

    async def dispatch_tool_call(
        self, call_id: str, arguments: dict[str, Any], deadline: datetime | None
    ) -> bool:
        """Mark a pending call as sent to the IDE with the arguments that run; False if it is
        no longer pending (its result arrived first)."""
        updated = await ToolCallRecord.filter(id=call_id, status=ToolCallStatus.PENDING).update(
            status=ToolCallStatus.DISPATCHED,
            deadline=deadline,
            arguments=_json(storable(arguments)),
        )
        return updated > 0

    async def finish_tool_call(
        self,
        call_id: str,
        status: ToolCallStatus,
        result: Any,
        error: str | None,
        *,
        only_from: tuple[ToolCallStatus, ...] | None = None,
    ) -> bool:
        """Record how a call ended; with `only_from`, only if it is still in one of those
        states (a late or duplicate result cannot overwrite an outcome). True if recorded."""
        query = ToolCallRecord.filter(id=call_id)
        if only_from is not None:
            query = query.filter(status__in=only_from)
        updated = await query.update(
            status=status,
            result=_json(storable(result)),
            error=storable(error),
            finished_at=datetime.now(UTC),
        )
        return updated > 0

    async def open_tool_calls(self, session_id: str) -> list[StoredCall]:
        """Calls still waiting for a decision, an IDE result or a user's answer."""
        query = ToolCallRecord.filter(session_id=session_id, status__in=OPEN_CALL_STATUSES)
        return [rows.call(r) for r in await query.order_by("created_at")]

    async def last_full_read(self, session_id: str, path: str) -> str | None:
        """The content of `path` as the session's last whole-file read_file returned it."""
        reads = await ToolCallRecord.filter(
            session_id=session_id, tool_name="read_file", status=ToolCallStatus.DONE
        ).order_by("-created_at")
        for read in reads:
            args = read.arguments
            whole = args.get("start_line") is None and args.get("end_line") is None
            if args.get("path") == path and whole and isinstance(read.result, str):
                return read.result
        return None

    # --- approvals --------------------------------------------------------------------------

    async def open_approval(
        self, call_id: str, session_id: str, expires_at: datetime | None
    ) -> None:
        await Approval.create(call_id=call_id, session_id=session_id, expires_at=expires_at)

    async def get_approval(self, call_id: str) -> StoredApproval | None:
        row = await Approval.get_or_none(call_id=call_id).prefetch_related("call")
        return rows.approval(row) if row is not None else None

    async def pending_approvals(self, session_id: str) -> list[StoredApproval]:
        query = Approval.filter(session_id=session_id, status=ApprovalStatus.PENDING)
        return [rows.approval(a) for a in await query.prefetch_related("call").order_by("id")]

    async def decide_approval(
        self,
        call_id: str,
        status: ApprovalStatus,
        decided_by: str,
        decider_role: str,
        modified_arguments: dict[str, Any] | None = None,
        feedback: str | None = None,
    ) -> bool:
        """Record a decision if none was recorded yet (the first one wins); every attempt is
        audited. True if this decision was the one recorded."""
        approval = await Approval.get(call_id=call_id)
        modified = None if modified_arguments is None else _json(modified_arguments)
        updated = await Approval.filter(id=approval.id, status=ApprovalStatus.PENDING).update(
            status=status,
            decided_by=decided_by,
            decider_role=decider_role,
            decided_at=datetime.now(UTC),
            modified_arguments=modified,
            feedback=feedback,
        )
        await ApprovalAudit.create(
            approval_id=approval.id,
            decision=status.value,
            decided_by=decided_by,
            accepted=updated > 0,
            modified_arguments=modified,
            feedback=feedback,
        )
        return updated > 0

    async def approval_audit(self, call_id: str) -> list[StoredDecision]:
        audit = await ApprovalAudit.filter(approval__call_id=call_id).order_by("id")
        return [rows.decision(a) for a in audit]

    # --- "always allow" rules ---------------------------------------------------------------

    async def allow_rules(self, session_id: str, tool_name: str | None = None) -> list[StoredRule]:
        query = AllowRule.filter(session_id=session_id)
        if tool_name is not None:
            query = query.filter(tool_name=tool_name)
        return [rows.rule(r) for r in await query.order_by("id")]

    async def add_allow_rule(
        self, session_id: str, tool_name: str, pattern: str, created_by: str, effect: str = "allow"
    ) -> StoredRule:
        row = await AllowRule.create(
            session_id=session_id,
            tool_name=tool_name,
            pattern=storable(pattern),
            created_by=created_by,
            effect=effect,
        )
        return rows.rule(row)

    async def delete_allow_rule(self, session_id: str, rule_id: int) -> bool:
        return await AllowRule.filter(session_id=session_id, id=rule_id).delete() > 0


async def _store_running_marks(marks: list[tuple[str, bool]]) -> None:
    """A batch of `mark_running` calls: the last mark of each session wins."""
    last = dict(marks)
    now = datetime.now(UTC)
    for running in (True, False):
        ids = [session_id for session_id, mark in last.items() if mark is running]
        if ids:
            await ChatSession.filter(id__in=ids).update(
                running_since=now if running else None, updated_at=now
            )
