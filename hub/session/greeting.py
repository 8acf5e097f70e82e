"""What a client gets when it attaches to a live session."""

from __future__ import annotations

from typing import Protocol

from agents.ports import HistoryStore
from agents.vocab import RunState
from hub import protocol as p
from hub.fanout import FrameStream, Subscriber
from hub.metrics import SessionMeter
from hub.session.clients import AttachRole, Clients, ResumePoint, missed_frames, recent_history
from hub.session.frames import pending_approval, reminder, resync_view
from hub.session.machine import SessionMachine


class Greeting(Protocol):
    """What greeting a client needs of the session (`LiveSession` is the one)."""

    id: str
    current_agent: str
    store: HistoryStore
    machine: SessionMachine
    clients: Clients
    frames: FrameStream
    meter: SessionMeter

    @property
    def run_state(self) -> RunState: ...

    @property
    def streaming_text(self) -> str: ...

    def reply(self, client: Subscriber, model: type[p.HubFrameModel], **fields: object) -> None: ...


async def greet(
    session: Greeting,
    client: Subscriber,
    role: AttachRole,
    resume: ResumePoint | None,
    max_replay: int,
) -> None:
    """Add a client. An SSE listener only follows the broadcast frames; any other gets
    `session_ready` first, then exactly the frames it missed if it resumes from a kept point,
    else a `resync` with the stored history (and the message being streamed) if it tried to,
    and the open calls."""
    if role == "sse":
        session.clients.add(client, role)
        return
    replay, resync = missed_frames(session.frames, resume, max_replay)
    streaming = lambda: bool(session.streaming_text)  # noqa: E731  # read after each await
    recent = await recent_history(session.store, session.id, streaming) if resync else []
    # Nothing awaits from here on: no frame slips between the greeting and the live ones.
    session.clients.add(client, role)
    waits = session.machine.waits.values()
    session.reply(
        client,
        p.SessionReady,
        epoch=session.frames.epoch,
        resumed=replay is not None,
        current_agent=session.current_agent,
        run_state=session.run_state,
        pending_approvals=[pending_approval(w) for w in waits if w.kind == "approval"],
    )
    for frame in replay or ():
        client.deliver(frame)
    if resync is not None:
        text, seq = session.streaming_text, session.frames.seq
        messages, in_flight = resync_view(recent, text, session.current_agent, seq)
        session.reply(client, p.Resync, reason=resync, messages=messages, in_flight=in_flight)
    resumed = "resumed" if replay is not None else "resync"
    session.meter.attached("fresh" if resume is None else resumed)
    if replay is None:
        for wait in waits:
            model, fields = reminder(wait)
            session.reply(client, model, **fields)
