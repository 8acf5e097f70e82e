"""One sweep over the process's sockets closes the idle and the stuck, and only them."""

from __future__ import annotations

import asyncio

from hub.watchdog import CLOSE_IDLE, CLOSE_TOO_SLOW, SocketWatchdog


class Client:
    def __init__(self, name: str, last_activity: float, sending_since: float | None = None):
        self.name = name
        self.last_activity = last_activity
        self.sending_since = sending_since
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def test_a_sweep_closes_idle_and_stuck_sockets_and_keeps_the_rest() -> None:
    now = [100.0]
    dog = SocketWatchdog(idle_limit=60, slow_limit=10, clock=lambda: now[0])
    assert dog.period == 2.5
    idle = Client("idle", last_activity=30.0)
    stuck = Client("stuck", last_activity=99.0, sending_since=85.0)
    busy = Client("busy", last_activity=99.0, sending_since=95.0)
    gone = Client("gone", last_activity=0.0)
    for client in (idle, stuck, busy, gone):
        dog.watch(client)
    dog.forget(gone)
    assert set(dog.sweep()) == {idle, stuck}
    await asyncio.sleep(0)  # the closes run as tasks of their own
    assert idle.closed == (CLOSE_IDLE, "idle for 60s")
    assert stuck.closed == (CLOSE_TOO_SLOW, "too slow; reconnect with last_seq")
    assert busy.closed is None and gone.closed is None
    assert dog.sweep() == []  # a socket is closed once, then no longer watched
    now[0] = 200.0
    assert dog.sweep() == [busy]
