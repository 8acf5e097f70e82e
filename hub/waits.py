"""The calls a parked turn waits on, each with its deadline timer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

from agents.events import Wait

Expiry = Callable[[Wait], Awaitable[None]]
Warning = Callable[[Wait], None]


class Waits:
    """Keyed by call id. A wait with a deadline gets a timer: approvals are warned about
    `warning_seconds` before, then every kind expires through `on_expiry`. The timer is
    cancelled when the wait is resolved first."""

    def __init__(self, on_expiry: Expiry, on_warning: Warning, warning_seconds: float) -> None:
        self._on_expiry = on_expiry
        self._on_warning = on_warning
        self._warning_seconds = warning_seconds
        self._waits: dict[str, Wait] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}

    def __bool__(self) -> bool:
        return bool(self._waits)

    def __iter__(self) -> Iterator[Wait]:
        return iter(tuple(self._waits.values()))

    def call_ids(self) -> list[str]:
        return list(self._waits)

    def add(self, wait: Wait) -> None:
        self._waits[wait.call_id] = wait
        if wait.deadline is not None and wait.call_id not in self._timers:
            self._timers[wait.call_id] = asyncio.create_task(self._expire(wait))

    def resolve(self, call_id: str) -> None:
        self._waits.pop(call_id, None)
        timer = self._timers.pop(call_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    def question(self) -> Wait | None:
        """The follow-up question the user's next message answers, if one is open."""
        return next((w for w in self._waits.values() if w.kind == "answer"), None)

    def clear(self) -> None:
        for call_id in list(self._waits):
            self.resolve(call_id)

    async def _expire(self, wait: Wait) -> None:
        assert wait.deadline is not None
        if wait.kind == "approval":
            await sleep_until(wait.deadline.timestamp() - self._warning_seconds)
            self._on_warning(wait)
        await sleep_until(wait.deadline.timestamp())
        self._timers.pop(wait.call_id, None)
        await self._on_expiry(wait)


async def sleep_until(timestamp: float) -> None:
    delay = timestamp - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
