"""Deadline timers of the calls a parked turn waits on: approvals are warned about, then every
kind expires. The driver owns them; the waits themselves are the machine's data."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from agents.run.steps import Wait

log = logging.getLogger(__name__)


class Timers:
    def __init__(
        self,
        on_expiry: Callable[[Wait], Awaitable[None]],
        on_warning: Callable[[Wait], None],
        warning_seconds: float,
    ) -> None:
        self._on_expiry = on_expiry
        self._on_warning = on_warning
        self._warning_seconds = warning_seconds
        self._timers: dict[str, asyncio.Task[None]] = {}

    def arm(self, wait: Wait) -> None:
        if wait.deadline is not None and wait.call_id not in self._timers:
            self._timers[wait.call_id] = asyncio.create_task(self._expire(wait))

    def disarm(self, call_id: str) -> None:
        timer = self._timers.pop(call_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    def clear(self) -> None:
        for call_id in list(self._timers):
            self.disarm(call_id)

    async def _expire(self, wait: Wait) -> None:
        assert wait.deadline is not None
        if wait.kind == "approval":
            await sleep_until(wait.deadline.timestamp() - self._warning_seconds)
            self._on_warning(wait)
        await sleep_until(wait.deadline.timestamp())
        self._timers.pop(wait.call_id, None)
        try:
            await self._on_expiry(wait)
        except Exception:
            log.exception("expiring call %s failed", wait.call_id)


async def sleep_until(timestamp: float) -> None:
    delay = timestamp - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
