"""An in-memory `HistoryStore`: the same records and the same first-decision-wins rules as
`db.store.Store`, with no database, for the turn core's and the session's unit tests."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from db.records import (
    OPEN_CALL_STATUSES,
    ApprovalStatus,
    MessageStatus,
    StoredApproval,
    StoredCall,
    StoredMessage,
    StoredQueued,
    StoredRule,
    StoredUsage,
    ToolCallStatus,
)


def _now() -> datetime:
    return datetime.now(UTC)


class MemoryStore:
    def __init__(self) -> None:
        self.agents: dict[str, str] = {}
        self.running: dict[str, bool] = {}
        self.messages: list[StoredMessage] = []
        self.calls: dict[str, StoredCall] = {}
        self.approvals: dict[str, StoredApproval] = {}
        self.rules: list[StoredRule] = []
        self.queue: list[tuple[str, StoredQueued]] = []
        self.decisions: list[tuple[str, str, bool]] = []  # (call_id, decided_by, accepted)
        self._ids = itertools.count(1)  # message ids; each kind of record counts on its own
        self._queued_ids = itertools.count(1)
        self._rule_ids = itertools.count(1)
        self.changed = asyncio.Event()  # set on every message write, for tests to wait on

    async def until(self, done: Callable[[MemoryStore], bool]) -> None:
        """Wait (never sleep) until the stored messages make `done` true."""
        while not done(self):
            self.changed.clear()
            await self.changed.wait()

    async def set_current_agent(self, session_id: str, agent: str) -> None:
        self.agents[session_id] = agent

    async def mark_running(self, session_id: str, running: bool) -> None:
        self.running[session_id] = running

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
        calls = list(tool_calls) if tool_calls else None
        message = StoredMessage(
            next(self._ids),
            session_id,
            role,
            content,
            agent,
            status,
            calls,
            tool_call_id,
            _now(),
            notice,
            details,
            author,
        )
        self.messages.append(message)
        self.changed.set()
        return message

    async def update_message(
        self,
        message_id: int,
        content: str,
        *,
        status: MessageStatus,
        tool_calls: Sequence[dict[str, Any]] | None = None,
    ) -> StoredMessage:
        index = next(i for i, m in enumerate(self.messages) if m.id == message_id)
        calls = list(tool_calls) if tool_calls else None
        updated = dataclasses.replace(
            self.messages[index], content=content, status=status, tool_calls=calls
        )
        self.messages[index] = updated
        self.changed.set()
        return updated

    async def history(
        self, session_id: str, limit: int, before: int | None = None
    ) -> list[StoredMessage]:
        found = [
            m
            for m in self.messages
            if m.session_id == session_id and (before is None or m.id < before)
        ]
        return found[-limit:]

    async def queue_message(
        self, session_id: str, role: str, content: str, author: str | None = None
    ) -> int:
        queued_id = next(self._queued_ids)
        self.queue.append((session_id, StoredQueued(queued_id, role, content, author)))
        return queued_id

    async def unqueue_message(self, queued_id: int) -> None:
        self.queue = [(s, q) for s, q in self.queue if q.id != queued_id]

    async def queued_messages(self, session_id: str) -> list[StoredQueued]:
        return [q for s, q in self.queue if s == session_id]

    async def create_tool_call(
        self, call_id: str, session_id: str, agent: str, tool_name: str, arguments: dict[str, Any]
    ) -> StoredCall:
        if call_id in self.calls:
            raise ValueError(f"tool call {call_id} exists")  # the database's primary key
        call = StoredCall(
            call_id,
            session_id,
            agent,
            tool_name,
            arguments,
            ToolCallStatus.PENDING,
            None,
            None,
            None,
            _now(),
        )
        self.calls[call_id] = call
        return call

    async def get_tool_call(self, call_id: str) -> StoredCall | None:
        return self.calls.get(call_id)

    async def dispatch_tool_call(
        self, call_id: str, arguments: dict[str, Any], deadline: datetime | None
    ) -> bool:
        call = self.calls.get(call_id)
        if call is None or call.status is not ToolCallStatus.PENDING:
            return False
        self._update_call(
            call, status=ToolCallStatus.DISPATCHED, arguments=arguments, deadline=deadline
        )
        return True

    async def finish_tool_call(
        self,
        call_id: str,
        status: ToolCallStatus,
        result: Any,
        error: str | None,
        *,
        only_from: tuple[ToolCallStatus, ...] | None = None,
    ) -> bool:
        call = self.calls.get(call_id)
        if call is None or (only_from is not None and call.status not in only_from):
            return False
        self._update_call(call, status=status, result=result, error=error)
        return True

    def _update_call(self, call: StoredCall, **changes: Any) -> None:
        updated = dataclasses.replace(call, **changes)
        self.calls[call.id] = updated
        if (approval := self.approvals.get(call.id)) is not None:
            self.approvals[call.id] = dataclasses.replace(approval, call=updated)

    async def open_tool_calls(self, session_id: str) -> list[StoredCall]:
        return [
            c
            for c in self.calls.values()
            if c.session_id == session_id and c.status in OPEN_CALL_STATUSES
        ]

    async def last_full_read(self, session_id: str, path: str) -> str | None:
        for call in reversed(list(self.calls.values())):
            args = call.arguments
            whole = args.get("start_line") is None and args.get("end_line") is None
            if (
                call.session_id == session_id
                and call.tool_name == "read_file"
                and call.status is ToolCallStatus.DONE
                and args.get("path") == path
                and whole
                and isinstance(call.result, str)
            ):
                return call.result
        return None

    async def open_approval(
        self, call_id: str, session_id: str, expires_at: datetime | None
    ) -> None:
        self.approvals[call_id] = StoredApproval(
            self.calls[call_id], ApprovalStatus.PENDING, None, None, None, None, expires_at, _now()
        )

    async def get_approval(self, call_id: str) -> StoredApproval | None:
        return self.approvals.get(call_id)

    async def decide_approval(
        self,
        call_id: str,
        status: ApprovalStatus,
        decided_by: str,
        decider_role: str,
        modified_arguments: dict[str, Any] | None = None,
        feedback: str | None = None,
    ) -> bool:
        approval = self.approvals[call_id]
        accepted = approval.status is ApprovalStatus.PENDING
        self.decisions.append((call_id, decided_by, accepted))
        if accepted:
            self.approvals[call_id] = dataclasses.replace(
                approval,
                status=status,
                decided_by=decided_by,
                decider_role=decider_role,
                modified_arguments=modified_arguments,
                feedback=feedback,
            )
        return accepted

    async def allow_rules(self, session_id: str, tool_name: str | None = None) -> list[StoredRule]:
        return [
            r for r in self.rules if r.session_id == session_id and tool_name in (None, r.tool_name)
        ]

    async def add_allow_rule(
        self, session_id: str, tool_name: str, pattern: str, created_by: str, effect: str = "allow"
    ) -> StoredRule:
        rule = StoredRule(
            next(self._rule_ids), session_id, tool_name, pattern, created_by, _now(), effect
        )
        self.rules.append(rule)
        return rule


class MemoryLedger:
    """`agents.ports.UsageLedger` in memory: the calls as recorded, totals summed on demand."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, int | None, int | None, int | None]] = []

    async def record(
        self,
        session_id: str,
        agent: str,
        purpose: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cached_tokens: int | None,
    ) -> None:
        self.calls.append(
            (session_id, agent, purpose, prompt_tokens, completion_tokens, cached_tokens)
        )

    async def totals(self, session_id: str) -> StoredUsage:
        mine = [call for call in self.calls if call[0] == session_id]
        return StoredUsage(
            prompt_tokens=sum(call[3] or 0 for call in mine),
            completion_tokens=sum(call[4] or 0 for call in mine),
            cached_tokens=sum(call[5] or 0 for call in mine),
            model_calls=len(mine),
            unreported_calls=sum(call[3] is None for call in mine),
        )
