"""The live sessions of this process, opened from the database on first use."""

from __future__ import annotations

import asyncio

from agents.definitions import DEFAULT_AGENT
from agents.engine import TurnEngine
from db import store
from hub.session import LiveSession


class SessionRegistry:
    def __init__(self, engine: TurnEngine, approval_warning_seconds: float = 10.0) -> None:
        self._engine = engine
        self._approval_warning = approval_warning_seconds
        self._live: dict[str, LiveSession] = {}
        self._opening = asyncio.Lock()

    async def open(self, session_id: str) -> LiveSession:
        """The live session, created (in the database too) if it does not exist yet."""
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
                    on_quiet=self._forget,
                    approval_warning_seconds=self._approval_warning,
                )
                await live.restore()
                self._live[session_id] = live
            return live

    def _forget(self, live: LiveSession) -> None:
        # Quiet sessions are reopened from the database on next use; memory stays bounded.
        if self._live.get(live.id) is live:
            del self._live[live.id]

    def get(self, session_id: str) -> LiveSession | None:
        return self._live.get(session_id)

    async def close_all(self) -> None:
        sessions, self._live = list(self._live.values()), {}
        await asyncio.gather(*(s.close() for s in sessions))
