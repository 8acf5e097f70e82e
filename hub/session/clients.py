"""The clients of a session, by role: who gets the greeting, broadcast frames and replies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from agents.ports import HistoryStore
from db.records import MessageStatus, StoredMessage
from hub.codec import Frame
from hub.fanout import FrameStream, Subscriber

# ide, console: greeted (`session_ready`, replay or resync, open calls again), get every frame.
# sse: gets the broadcast frames only. remote: attached through another hub process, which
# reads the broadcast frames from the bus; only the greeting and replies go to it from here.
RESYNC_MESSAGES = 50
AttachRole = Literal["ide", "console", "sse", "remote"]


@dataclass(frozen=True, slots=True)
class ResumePoint:
    epoch: str
    last_seq: int


@dataclass(slots=True)
class Clients:
    local: set[Subscriber] = field(default_factory=set)
    remote: dict[str, Subscriber] = field(default_factory=dict)
    watching: set[Subscriber] = field(default_factory=set)  # IDEs and consoles: a person

    def add(self, client: Subscriber, role: AttachRole) -> None:
        if role == "remote":
            self.remote[client.name] = client
        else:
            self.local.add(client)
        if role in ("ide", "console", "remote"):  # a relay stands for a socket elsewhere
            self.watching.add(client)

    def remove(self, client: Subscriber) -> None:
        self.local.discard(client)
        self.remote.pop(client.name, None)
        self.watching.discard(client)

    def remove_remote(self, name: str) -> None:
        if (client := self.remote.pop(name, None)) is not None:
            self.watching.discard(client)

    def __bool__(self) -> bool:
        return bool(self.local or self.remote)

    def __len__(self) -> int:
        return len(self.local)


def missed_frames(
    frames: FrameStream, resume: ResumePoint | None, max_frames: int
) -> tuple[list[Frame] | None, str | None]:
    """What a client resuming from `resume` is sent: the frames it missed, or (None, why) when
    it must resync instead. (None, None): it is not resuming."""
    if resume is None:
        return None, None
    replay = frames.replay(resume.epoch, resume.last_seq)
    if replay is None:
        if resume.epoch == frames.epoch:
            return None, "gap_too_old"
        restarted = resume.epoch in frames.earlier_epochs
        return None, "stream_restarted" if restarted else "epoch_unknown"
    # Streamed tokens merge in a lagging client's outbox; any other frame takes a place in it.
    unmergeable = sum(f.data["type"] != "assistant_message" or f.data["is_final"] for f in replay)
    if unmergeable > max_frames:
        return None, "replay_too_large"
    return replay, None


async def recent_history(
    store: HistoryStore, session_id: str, streaming: Callable[[], bool]
) -> list[StoredMessage]:
    """The history a resync shows. A draft that finished while it was read (nothing streams
    now) is read again, finished; a few tries, as a draft left by a crash stays a draft."""
    for _ in range(3):
        recent = await store.history(session_id, RESYNC_MESSAGES)
        if streaming() or all(m.status is not MessageStatus.STREAMING for m in recent):
            break
    return recent
