"""The live sessions of this process, opened from the database on first use."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from agents.definitions import DEFAULT_AGENT
from agents.engine import TurnEngine
from db import store
from hub.fanout import Retention, Subscriber
from hub.protocol import ClientFrame, ErrorCode
from hub.session import LiveSession

if TYPE_CHECKING:
    from hub.cluster import Cluster


class SessionPort(Protocol):
    """A session as the endpoints use it: run here (`LiveSession`) or elsewhere (relay)."""

    id: str

    @property
    def connections(self) -> int: ...

    async def join(self, client: Subscriber, resume: tuple[str, int] | None) -> None: ...

    def subscribe(self, listener: Subscriber) -> None: ...

    def detach(self, client: Subscriber) -> None: ...

    async def handle(self, frame: ClientFrame, origin: Subscriber) -> None: ...

    def reject(self, client: Subscriber, code: ErrorCode, message: str) -> None: ...

    async def act(self, frame: ClientFrame, by: str) -> str | None: ...

    async def cancel_turn(self) -> bool: ...


class SessionRegistry:
    def __init__(
        self,
        engine: TurnEngine,
        approval_warning_seconds: float = 10.0,
        retention: Retention | None = None,
        frames_per_second: float = 20.0,
        cluster: Cluster | None = None,
    ) -> None:
        self._cluster = cluster
        self._background: set[asyncio.Task[None]] = set()
        self._engine = engine
        self._approval_warning = approval_warning_seconds
        self._retention = retention or Retention()
        self._frames_per_second = frames_per_second
        self._live: dict[str, LiveSession] = {}
        self._evictions: dict[str, asyncio.TimerHandle] = {}
        self._opening = asyncio.Lock()

    async def open(self, session_id: str) -> SessionPort:
        """The session, created (in the database too) if it does not exist yet; in a cluster,
        a relay to the process that runs it if that is another one."""
        if self._cluster is not None and session_id not in self._live:
            owner = await self._cluster.bus.claim(session_id)
            if owner != self._cluster.bus.instance_id:
                return self._cluster.relay(session_id, owner)
        return await self.open_owned(session_id)

    def owned(self) -> list[str]:
        return list(self._live)

    async def open_owned(self, session_id: str) -> LiveSession:
        """The live session run by this process."""
        eviction = self._evictions.pop(session_id, None)
        if eviction is not None:
            eviction.cancel()
        live = self._live.get(session_id)
        if live is not None:
            return live
        async with self._opening:
            live = self._live.get(session_id)
            if live is None:
                row = await store.get_or_create_session(session_id, DEFAULT_AGENT)
                live = LiveSession(
                    row.id,
                    row.current_agent,
                    self._engine,
                    on_quiet=self._forget_later,
                    approval_warning_seconds=self._approval_warning,
                    retention=self._retention,
                    frames_per_second=self._frames_per_second,
                )
                await live.restore()
                if self._cluster is not None:
                    self._cluster.own(live)
                self._live[session_id] = live
            return live

    def _forget_later(self, live: LiveSession) -> None:
        """A quiet session is kept while its frames could still be resumed, then let go; it is
        reopened from the database on next use, so memory stays bounded."""
        if live.id in self._evictions:
            return
        loop = asyncio.get_running_loop()
        delay = self._retention.seconds
        self._evictions[live.id] = loop.call_later(delay, self._forget, live)

    def _forget(self, live: LiveSession) -> None:
        self._evictions.pop(live.id, None)
        if live.quiet and self._live.get(live.id) is live:
            del self._live[live.id]
            if self._cluster is not None:
                release = asyncio.create_task(self._cluster.bus.release(live.id))
                self._background.add(release)
                release.add_done_callback(self._background.discard)

    def get(self, session_id: str) -> LiveSession | None:
        return self._live.get(session_id)

    async def close_all(self) -> None:
        for eviction in self._evictions.values():
            eviction.cancel()
        sessions, self._live = list(self._live.values()), {}
        await asyncio.gather(*(s.close() for s in sessions))
