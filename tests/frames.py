"""A subscriber that records frames, and waiting on what it saw (never sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hub import protocol as p
from hub.codec import Frame
from hub.registry import SessionPort
from hub.session.commands import Command, Outcome, Sender


class Recorder:
    def __init__(self, name: str = "ide:test") -> None:
        self.name = name
        self.frames: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def deliver(self, frame: Frame) -> None:
        self.frames.append(frame.data)
        self._changed.set()

    def types(self) -> list[str]:
        return [f["type"] for f in self.frames]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]

    def text(self) -> str:
        return "".join(f["token"] for f in self.of_type("assistant_message"))

    async def until(
        self, done: Callable[[list[dict[str, Any]]], bool], within: float = 5.0
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(within):
            while not done(self.frames):
                self._changed.clear()
                await self._changed.wait()
        return self.frames

    async def until_type(self, kind: str, count: int = 1, within: float = 5.0) -> dict[str, Any]:
        await self.until(lambda fs: sum(f["type"] == kind for f in fs) >= count, within)
        return self.of_type(kind)[count - 1]


async def send(
    session: SessionPort, frame: p.ClientFrame, origin: Recorder | None = None
) -> Outcome:
    """Submit a frame as the recording client `origin` (an IDE) would, through the entry point."""
    name = origin.name if origin is not None else "ide:test"
    sender = Sender(role="console" if name.startswith("console") else "ide", name=name)
    return await session.submit(Command(frame=frame, sender=sender), origin)


async def say(session: SessionPort, text: str) -> Outcome:
    return await send(session, p.UserMessage(content=text))
