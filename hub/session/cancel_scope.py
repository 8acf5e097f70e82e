"""Where a run may be cut: only while the turn engine works. A cancel asked before the engine
starts, or after it returns, is only noted, so every run reaches its own end, stores it and
lets the session take the next one. Cutting a run's bookkeeping instead (a task cancelled
before its first step, a write of its start or end) left the session counting it as running,
and every later message waited forever."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from agents.run.engine import TurnOutcome


class CancelScope:
    """One run's cancel: asked at most once; it cuts the engine's work if that is under way."""

    def __init__(self) -> None:
        self.asked = False
        self._engine: asyncio.Task[object] | None = None  # the run's task, while in the engine

    def cancel(self) -> None:
        if self.asked:
            return  # once: a second cut would land in the engine's own storing of the partial
        self.asked = True
        if self._engine is not None:
            self._engine.cancel()

    async def run(self, engine_work: Callable[[], Awaitable[TurnOutcome]]) -> TurnOutcome:
        """The engine's part of a run, or `cancelled` without starting it if a cancel came."""
        if self.asked:
            return TurnOutcome("cancelled")
        task = self._engine = asyncio.current_task()
        try:
            return await engine_work()
        except asyncio.CancelledError:
            # The engine records a cancel and returns; this one came before it could.
            if task is not None:
                task.uncancel()
            return TurnOutcome("cancelled")
        finally:
            self._engine = None
