"""A session's conversation as its runs see it: every message written through to the store, the
latest `CONTEXT_MESSAGES` kept in memory, so a turn reads its context without a query.

One object per live session, and a session is live in one process at a time (the cluster's
lease), so nothing else writes its messages while it lives; a session opened again (after an
eviction, a restart or a take-over) starts from the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from agents.ports import HistoryStore
from db.records import MessageStatus, StoredMessage

CONTEXT_MESSAGES = 200


class Conversation:
    def __init__(self, store: HistoryStore, session_id: str, size: int = CONTEXT_MESSAGES) -> None:
        self._store = store
        self.session_id = session_id
        self._size = size
        self._window: deque[StoredMessage] | None = None  # None: not read yet
        self._writes = 0  # a read that overlapped a write is read again

    async def recent(self) -> list[StoredMessage]:
        """The latest messages, oldest first (a copy)."""
        while self._window is None:
            writes = self._writes
            loaded = await self._store.history(self.session_id, self._size)
            if writes == self._writes:
                self._window = deque(loaded, maxlen=self._size)
        return list(self._window)

    async def add(
        self,
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
        message = await self._store.add_message(
            self.session_id,
            role,
            content,
            agent=agent,
            status=status,
            tool_calls=tool_calls,
            tool_call_id=tool_call_id,
            notice=notice,
            details=details,
            author=author,
        )
        self._writes += 1
        if self._window is not None:
            self._window.append(message)
        return message

    async def update(
        self,
        message_id: int,
        content: str,
        *,
        status: MessageStatus,
        tool_calls: Sequence[dict[str, Any]] | None = None,
    ) -> StoredMessage:
        message = await self._store.update_message(
            message_id, content, status=status, tool_calls=tool_calls
        )
        self._writes += 1
        if self._window is not None:
            for index in range(len(self._window) - 1, -1, -1):
                if self._window[index].id == message_id:
                    self._window[index] = message
                    break
        return message
