"""The assistant message while it streams: saved every few seconds as it grows, so a crash of
the hub loses at most that window of text, never a write per token.

The saves run in a small task of their own beside the stream, so a model that stalls after a
few tokens still has them saved, and the stream never waits for the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from agents.run.steps import RunContext
from db.records import MessageStatus, StoredMessage


class Draft:
    def __init__(self, ctx: RunContext, agent: str, every: float | None) -> None:
        self.text: list[str] = []
        self._ctx, self._agent, self._every = ctx, agent, every
        self._message_id: int | None = None
        self._saved_pieces = 0
        self._saver: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def add(self, piece: str) -> None:
        """Keep a text delta (the hot path: no I/O, no timer per piece)."""
        self.text.append(piece)
        if self._saver is None and self._every:
            self._saver = asyncio.create_task(self._save_every(self._every))

    @property
    def agent(self) -> str:
        return self._agent

    @property
    def saved(self) -> bool:
        return self._message_id is not None

    async def finish(
        self, status: MessageStatus, tool_calls: list[dict[str, Any]] | None = None
    ) -> StoredMessage:
        """The last write: the whole text with its final status (and the model's calls), after
        any save in progress has ended."""
        if self._saver is not None:
            self._stop.set()
            await asyncio.wait({self._saver})
        return await self._write(status, tool_calls)

    def stop(self) -> None:
        """Stop saving (a run that failed some other way): the draft stays as last saved."""
        if self._saver is not None:
            self._saver.cancel()

    async def _save_every(self, every: float) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), every)
            if not self._stop.is_set() and len(self.text) > self._saved_pieces:
                await self._write(MessageStatus.STREAMING, None)

    async def _write(
        self, status: MessageStatus, tool_calls: list[dict[str, Any]] | None
    ) -> StoredMessage:
        conversation, pieces = self._ctx.conversation, len(self.text)
        content = "".join(self.text[:pieces])
        if self._message_id is None:
            message = await conversation.add(
                "assistant",
                content,
                agent=self._agent,
                status=status,
                tool_calls=tool_calls,
            )
            self._message_id = message.id
        else:
            message = await conversation.update(
                self._message_id, content, status=status, tool_calls=tool_calls
            )
        self._saved_pieces = pieces
        return message
