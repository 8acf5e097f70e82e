"""A bounded send queue for one client: a slow reader never makes the hub's memory grow.

When the queue is full, a token frame is merged into the token frame queued before it (the text
is kept, the `seq` of the merged frame is the later one), so a fast model and a slow client cost
one growing frame, not thousands. The pieces are joined and encoded once, when the frame is
taken, so merging stays linear however long the client stalls. Frames that cannot be merged
still queue up to a hard limit; past it the client is cut off and can resume from its last
`seq`.
"""

from __future__ import annotations

import asyncio
from collections import deque

import orjson

from hub.codec import Frame


def _is_token(frame: Frame) -> bool:
    data = frame.data
    return data["type"] == "assistant_message" and not data["is_final"]


class _Merged:
    """Token frames merged while the client lags: their pieces, and the latest frame."""

    def __init__(self, first: Frame) -> None:
        self.pieces = [first.data["token"]]
        self.last = first

    def add(self, frame: Frame) -> None:
        self.pieces.append(frame.data["token"])
        self.last = frame

    def frame(self) -> Frame:
        data = {**self.last.data, "token": "".join(self.pieces)}
        return Frame(data, orjson.dumps(data).decode())


class Outbox:
    def __init__(self, limit: int, hard_limit: int) -> None:
        self._frames: deque[Frame | _Merged] = deque()
        self._limit = limit
        self._hard_limit = hard_limit
        # What the writer awaits while the queue is empty: made only then (an Event would keep
        # a deque of its own for every idle socket).
        self._waiter: asyncio.Future[None] | None = None
        self.merged = 0
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: Frame) -> None:
        frames = self._frames
        if len(frames) >= self._limit and frames and _is_token(frame):
            tail = frames[-1]
            if isinstance(tail, Frame) and _is_token(tail):
                tail = frames[-1] = _Merged(tail)
            if isinstance(tail, _Merged):
                tail.add(frame)
                self.merged += 1
                return
        if len(frames) >= self._hard_limit:
            self.overflowed = True
            self._wake()  # so the writer can cut the client off
            return
        frames.append(frame)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Frame | None:
        """The next frame, or None once the outbox overflowed."""
        while not self._frames and not self.overflowed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.overflowed:
            return None
        head = self._frames.popleft()
        return head.frame() if isinstance(head, _Merged) else head
