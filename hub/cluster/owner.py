"""This process's part in a cluster: it answers what other processes ask of the sessions it
owns, exports their frames to the bus, and carries requests and replies for its relays."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

from agents.vocab import ErrorCode
from hub import codec
from hub.cluster import messages as m
from hub.cluster.bus import RedisBus
from hub.codec import Frame
from hub.fanout import Subscriber
from hub.session.clients import ResumePoint
from hub.session.commands import Refused
from hub.session.driver import LiveSession

log = logging.getLogger(__name__)
REQUEST_TIMEOUT = 10.0


class OwnedSessions(Protocol):
    async def open_owned(self, session_id: str) -> LiveSession: ...

    def owned(self) -> list[str]: ...


class FrameExporter:
    """Appends a session's broadcast frames to the bus in batches, off the hot path."""

    def __init__(self, bus: RedisBus, session_id: str, epoch: str) -> None:
        self._bus, self._session_id, self._epoch = bus, session_id, epoch
        self._pending: list[tuple[int, str]] = []
        self._flushing: asyncio.Task[None] | None = None

    def __call__(self, seq: int, text: str) -> None:
        self._pending.append((seq, text))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            await self._bus.append(self._session_id, self._epoch, batch)


class RemoteClient:
    """On the owner: a client attached through another process; replies go back there."""

    def __init__(self, cluster: Cluster, name: str, instance_id: str) -> None:
        self.name = name
        self._cluster, self._instance_id = cluster, instance_id

    def deliver(self, frame: Frame) -> None:
        self._cluster.send(self._instance_id, m.Reply(client=self.name, text=frame.text))


class Cluster:
    def __init__(self, bus: RedisBus) -> None:
        self.bus = bus
        self._pending: dict[str, asyncio.Future[m.Result]] = {}
        self._local: dict[str, Subscriber] = {}  # clients here of sessions owned elsewhere

    def own(self, live: LiveSession) -> None:
        live.frames.export = FrameExporter(self.bus, live.id, live.frames.epoch)

    def send(self, instance_id: str, message: m.BusMessage) -> None:
        self.bus.post(instance_id, m.encode(message))

    def new_request(self) -> tuple[str, str]:
        """A request id and where its answer goes (this process's inbox)."""
        return uuid.uuid4().hex, self.bus.instance_id

    async def request(self, owner: str, message: m.Request) -> m.Result:
        waiter: asyncio.Future[m.Result] = asyncio.get_running_loop().create_future()
        self._pending[message.request_id] = waiter
        self.send(owner, message)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                return await waiter
        finally:
            self._pending.pop(message.request_id, None)

    def register_local(self, client: Subscriber) -> None:
        self._local[client.name] = client

    def forget_local(self, client: Subscriber) -> None:
        self._local.pop(client.name, None)

    async def serve(self, sessions: OwnedSessions) -> None:
        """Answer the other processes until cancelled; renew the leases meanwhile."""
        renewing = asyncio.create_task(self._renew(sessions))
        try:
            async for payload in self.bus.inbox():
                try:
                    await self._handle(sessions, m.decode(payload))
                except Exception:
                    log.exception("cluster message failed: %.200r", payload)
        finally:
            renewing.cancel()

    async def _renew(self, sessions: OwnedSessions) -> None:
        while True:
            await asyncio.sleep(self.bus.renew_every)
            await self.bus.renew(sessions.owned())

    async def _handle(self, sessions: OwnedSessions, message: m.BusMessage) -> None:
        match message:
            case m.Result(request_id=request_id):
                waiter = self._pending.get(request_id)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
            case m.Reply(client=name, text=text):
                if (client := self._local.get(name)) is not None:
                    client.deliver(codec.decode(text))
            case m.Detach(session_id=session_id, client=name):
                (await sessions.open_owned(session_id)).detach_remote(name)
            case m.Attach() | m.Submit():
                live = await sessions.open_owned(message.session_id)
                self.send(message.reply_to, await self._answer(live, message))

    async def _answer(self, live: LiveSession, message: m.Request) -> m.Result:
        match message:
            case m.Attach(client=name, reply_to=reply_to, resume=resume):
                point = ResumePoint(*resume) if resume is not None else None
                await live.attach(RemoteClient(self, name, reply_to), "remote", point)
                outcome: m.Outcome = m.Accepted()
            case m.Submit(command=command, client=name):
                origin = live.clients.remote.get(name) if name is not None else None
                outcome = await live.submit(command, origin)
            case _:
                outcome = Refused(code=ErrorCode.NOT_SUPPORTED, message="unknown request")
        return m.Result(
            request_id=message.request_id,
            outcome=outcome,
            epoch=live.frames.epoch,
            after=live.frames.seq,
        )
