"""Group commit: writes asked for while one is in flight go to the database together, next.

Each caller still waits for its own write, so nothing is acknowledged before it is stored; but a
hundred sessions marking their runs at once cost a statement or two, not a hundred round trips
through the database's one connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class WriteBatch(Generic[T]):
    def __init__(self, flush: Callable[[list[T]], Awaitable[None]]) -> None:
        self._flush = flush
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def write(self, item: T) -> None:
        """Store `item` with whatever else is waiting; raises what the flush raised."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._flush([item for item, _ in batch])
                except Exception as exc:  # every writer of the batch gets the failure
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._draining = None
