"""One sweep over every socket of the process closes those idle (no frame either way) or stuck
(a send that does not end). A timer task per socket cost each idle socket a task, a coroutine
and a sleeping timer; the sweep costs a set entry."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013  # "try again later": reconnect with last_seq to resume
CLOSE_IDLE = 1001


class Watched(Protocol):
    name: str
    last_activity: float  # time.monotonic() of the last frame either way
    sending_since: float | None  # set while a send waits on a slow client

    def close(self, code: int, reason: str) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class Overdue:
    code: int
    reason: str


def overdue(client: Watched, now: float, idle_limit: float, slow_limit: float) -> Overdue | None:
    if client.sending_since is not None and now - client.sending_since > slow_limit:
        return Overdue(CLOSE_TOO_SLOW, "too slow; reconnect with last_seq")
    if now - client.last_activity > idle_limit:
        return Overdue(CLOSE_IDLE, f"idle for {idle_limit:g}s")
    return None


class SocketWatchdog:
    def __init__(
        self,
        idle_limit: float,
        slow_limit: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle, self._slow = idle_limit, slow_limit
        self._clock = clock
        self._clients: set[Watched] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.period = min(idle_limit, slow_limit) / 4

    def watch(self, client: Watched) -> None:
        self._clients.add(client)

    def forget(self, client: Watched) -> None:
        self._clients.discard(client)

    def sweep(self) -> list[Watched]:
        """Start closing every overdue socket (each close is a task of its own: a stuck socket
        must not hold up the sweep); the ones closed."""
        now = self._clock()
        closed = []
        for client in tuple(self._clients):
            if (why := overdue(client, now, self._idle, self._slow)) is None:
                continue
            if why.code == CLOSE_TOO_SLOW:
                log.warning("closing %s: it stopped taking frames", client.name)
            self._clients.discard(client)
            task = asyncio.ensure_future(client.close(why.code, why.reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            closed.append(client)
        return closed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.sweep()
