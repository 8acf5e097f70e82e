"""The live sessions of this process, opened from the database on first use."""

from __future__ import annotations

import asyncio

from agents.definitions import DEFAULT_AGENT
from agents.engine import TurnEngine
from db import store
from hub.fanout import Retention
from hub.session import LiveSession


class SessionRegistry:
    def __init__(
        self,
        engine: TurnEngine,
        approval_warning_seconds: float = 10.0,
        retention: Retention | None = None,
        frames_per_second: float = 20.0,
    ) -> None:
        self._engine = engine
        self._approval_warning = approval_warning_seconds
        self._retention = retention or Retention()
        self._frames_per_second = frames_per_second
        self._live: dict[str, LiveSession] = {}
        self._evictions: dict[str, asyncio.TimerHandle] = {}
        self._opening = asyncio.Lock()

    async def open(self, session_id: str) -> LiveSession:
        """The live session, created (in the database too) if it does not exist yet."""
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

    def get(self, session_id: str) -> LiveSession | None:
        return self._live.get(session_id)

    async def close_all(self) -> None:
        for eviction in self._evictions.values():
            eviction.cancel()
        sessions, self._live = list(self._live.values()), {}
        await asyncio.gather(*(s.close() for s in sessions))
