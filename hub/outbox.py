"""A bounded send queue for one client: a slow reader never makes the hub's memory grow.

When the queue is full, a token frame is merged into the token frame queued before it (the text
is kept, the `seq` of the merged frame is the later one), so a fast model and a slow client cost
one growing frame, not thousands. Frames that cannot be merged still queue up to a hard limit;
past it the client is cut off and can resume from its last `seq`.
"""

from __future__ import annotations

import asyncio
from collections import deque

import orjson

from hub.codec import Frame


def _is_token(frame: Frame) -> bool:
    data = frame.data
    return data["type"] == "assistant_message" and not data["is_final"]


def merge_tokens(first: Frame, second: Frame) -> Frame:
    data = {**second.data, "token": first.data["token"] + second.data["token"]}
    return Frame(data, orjson.dumps(data).decode())


class Outbox:
    def __init__(self, limit: int, hard_limit: int) -> None:
        self._frames: deque[Frame] = deque()
        self._limit = limit
        self._hard_limit = hard_limit
        self._ready = asyncio.Event()
        self.merged = 0
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: Frame) -> None:
        frames = self._frames
        if len(frames) >= self._limit and frames and _is_token(frame) and _is_token(frames[-1]):
            frames[-1] = merge_tokens(frames[-1], frame)
            self.merged += 1
            return
        if len(frames) >= self._hard_limit:
            self.overflowed = True
            self._ready.set()  # wake the writer so it can cut the client off
            return
        frames.append(frame)
        self._ready.set()

    async def get(self) -> Frame | None:
        """The next frame, or None once the outbox overflowed."""
        while not self._frames and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            return None
        return self._frames.popleft()
