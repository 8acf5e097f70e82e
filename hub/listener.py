"""Following one request's run: what the SSE and AG-UI endpoints stream back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from hub.codec import Frame


class RunListener:
    """A `Subscriber` that keeps what one request caused: the agent switches published while
    acting, then the frames of the run it started (if any), from its start to its end."""

    name = "sse"

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._following = False
        self._active = False
        self._frames: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def follow(self, run_id: str | None) -> None:
        """The run to stream; None: the request started none, so the stream ends now."""
        self._run_id, self._following = run_id, True
        if run_id is None:
            self._frames.put_nowait(None)

    def deliver(self, frame: Frame) -> None:
        data = frame.data
        if not self._following:
            if data["type"] == "agent_switched":
                self._frames.put_nowait(data)
        elif data["type"] == "run_started" and data["run_id"] == self._run_id:
            self._active = True
        elif data["type"] == "run_finished" and data["run_id"] == self._run_id:
            self._active = False
            self._frames.put_nowait(data)
            self._frames.put_nowait(None)
        elif self._active:
            self._frames.put_nowait(data)

    async def frames(self) -> AsyncIterator[dict[str, Any]]:
        """The run's frames as the socket has them, its `run_finished` last."""
        while (data := await self._frames.get()) is not None:
            yield data
