"""A session's frame stream: numbers hub frames and fans them out, encoded once.

Broadcast frames take the next `seq`; replies to one client repeat the current one and go to
that client only. Subscribers take encoded frames without blocking and own their buffering.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hub import codec
from hub import protocol as p
from hub.codec import Frame


class Subscriber(Protocol):
    @property
    def name(self) -> str:
        """Who this client is in audit records, e.g. `ide:3f2a…` or `console:…`."""

    def deliver(self, frame: Frame) -> None:
        """Take a frame without blocking; the subscriber owns its buffering."""


@dataclass(frozen=True, slots=True)
class Retention:
    """Frames kept for resume: the last `frames`, and any younger than `seconds`, up to
    `max_frames` in all."""

    frames: int = 1000
    seconds: float = 600.0
    max_frames: int = 20_000


class FrameStream:
    def __init__(
        self,
        session_id: str,
        retention: Retention | None = None,
        subscribers: set[Subscriber] | None = None,
    ) -> None:
        self.session_id = session_id
        # A new stream (a new process, or the session reopened) restarts `seq`; a client must
        # present the epoch it saw with its last seq, or it is told to resync.
        self.epoch = uuid.uuid4().hex[:12]
        self.earlier_epochs: frozenset[str] = frozenset()  # this session's streams before
        self.seq = 0
        # Every broadcast frame goes to these (clients on other processes read the bus).
        self.subscribers = subscribers if subscribers is not None else set()
        # Called with every broadcast frame, e.g. to append it to the bus.
        self.export: Callable[[int, str], None] | None = None
        self._retention = retention or Retention()
        # Only the encoded text is kept: a replay is rare, a dict per kept frame is not cheap.
        self._kept: deque[tuple[float, str]] = deque()

    def replay(self, epoch: str, last_seq: int) -> list[Frame] | None:
        """The frames after `last_seq`, or None if they are not all kept (or the epoch is
        another stream's): the client must resync from the history."""
        if epoch != self.epoch or last_seq > self.seq:
            return None
        first = self.seq - len(self._kept) + 1  # kept frames have consecutive seqs
        if last_seq < first - 1:
            return None
        missed = itertools.islice(self._kept, last_seq - first + 1, None)
        return [codec.decode(text) for _, text in missed]

    def publish(self, model: type[p.HubFrameModel], **fields: Any) -> None:
        """Broadcast a typed frame under the next `seq`."""
        self.seq += 1
        self._fan_out(codec.encode(model, self.session_id, self.seq, **fields))

    def reply(self, subscriber: Subscriber, model: type[p.HubFrameModel], **fields: Any) -> None:
        """Send a frame to one client; it repeats the current `seq` and is not broadcast."""
        subscriber.deliver(codec.encode(model, self.session_id, self.seq, **fields))

    def token(self, text: str) -> None:
        self.seq += 1
        self._fan_out(codec.token(self.session_id, self.seq, text))

    def _fan_out(self, frame: Frame) -> None:
        now = time.monotonic()
        kept, keep = self._kept, self._retention
        kept.append((now, frame.text))
        while len(kept) > keep.max_frames or (
            len(kept) > keep.frames and now - kept[0][0] > keep.seconds
        ):
            kept.popleft()
        for subscriber in tuple(self.subscribers):
            subscriber.deliver(frame)
        if self.export is not None:
            self.export(self.seq, frame.text)
