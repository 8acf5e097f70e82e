"""A session another process owns, as the endpoints here see it (a `SessionPort`): its
clients read the owner's frames from the bus; what they send goes to the owner.

While it has clients, the relay watches the owner's lease. If the owner dies (its lease
lapses), this process takes the session over from the database — the interrupted run is
marked as the start-up recovery does — and its clients move to the local session, which
greets them with `resync`; if another process took it over first, they follow that one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agents.vocab import ErrorCode
from hub import codec
from hub import protocol as p
from hub.cluster import messages as m
from hub.cluster.owner import Cluster
from hub.fanout import Subscriber
from hub.session.clients import AttachRole, ResumePoint
from hub.session.commands import Accepted, Command, Outcome, Refused
from hub.session.driver import LiveSession

log = logging.getLogger(__name__)
TakeOver = Callable[[str], Awaitable[LiveSession | None]]


class RelaySession:
    def __init__(self, cluster: Cluster, session_id: str, owner: str, take_over: TakeOver) -> None:
        self.id = session_id
        self._cluster = cluster
        self._owner = owner
        self._take_over = take_over
        self._tails: dict[Subscriber, asyncio.Task[None]] = {}
        self._roles: dict[Subscriber, AttachRole] = {}
        self._listeners: list[Subscriber] = []
        self._last_seq: dict[str, int] = {}
        self._epoch = ""  # of the owner's frame stream
        self._watcher: asyncio.Task[None] | None = None
        self._successor: LiveSession | None = None  # this process, after a take-over
        self._moved = asyncio.Event()  # set when the clients moved to a new owner

    @property
    def connections(self) -> int:
        return self._successor.connections if self._successor else len(self._tails)

    async def attach(
        self, client: Subscriber, role: AttachRole, resume: ResumePoint | None = None
    ) -> None:
        if self._successor is not None:
            await self._successor.attach(client, role, resume)
            return
        if role == "sse":
            self._listeners.append(client)  # it follows from the seq `submit` answers with
            return
        self._cluster.register_local(client)
        self._roles[client] = role
        await self._attach_to_owner(client, resume)
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_owner())

    async def _attach_to_owner(self, client: Subscriber, resume: ResumePoint | None) -> None:
        request_id, reply_to = self._cluster.new_request()
        point = (resume.epoch, resume.last_seq) if resume is not None else None
        attach = m.Attach(
            request_id=request_id,
            reply_to=reply_to,
            session_id=self.id,
            client=client.name,
            resume=point,
        )
        answer = await self._cluster.request(self._owner, attach)
        self._epoch = answer.epoch
        self._follow(client, answer.epoch, answer.after)

    def detach(self, client: Subscriber) -> None:
        if self._successor is not None:
            self._successor.detach(client)
        tail = self._tails.pop(client, None)
        if tail is not None:
            tail.cancel()
        self._roles.pop(client, None)
        self._last_seq.pop(client.name, None)
        if client in self._listeners:
            self._listeners.remove(client)
        self._cluster.forget_local(client)
        if self._successor is None:
            self._cluster.send(self._owner, m.Detach(session_id=self.id, client=client.name))
        if not self._tails and self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    async def submit(self, command: Command, origin: Subscriber | None = None) -> Outcome:
        """Pings are answered here; everything else by the owner, which answers `origin`.
        A command the owner cannot answer because it died goes to whoever takes over."""
        if self._successor is not None:
            return await self._successor.submit(command, origin)
        if isinstance(command.frame, p.Ping):
            if origin is not None:
                self._reply(origin, p.Pong, data=command.frame.data)
            return Accepted()
        request_id, reply_to = self._cluster.new_request()
        message = m.Submit(
            request_id=request_id,
            reply_to=reply_to,
            session_id=self.id,
            command=command,
            client=origin.name if origin is not None else None,
        )
        try:
            answer = await self._answer_or_move(message)
        except TimeoutError:
            if self._successor is None:
                await self._check_owner()
            if self._successor is not None:  # the owner died with the command: run it here
                return await self._successor.submit(command, origin)
            outcome = Refused(
                code=ErrorCode.INTERNAL_ERROR,
                message="the hub process running this session did not answer in time",
            )
            if origin is not None:
                self.reject(origin, outcome.code, outcome.message)
            return outcome
        for listener in self._listeners:
            self._follow(listener, answer.epoch, answer.after)
        return answer.outcome

    async def _answer_or_move(self, message: m.Submit) -> m.Result:
        """The owner's answer; TimeoutError if none comes, or as soon as the session moved."""
        moved = asyncio.ensure_future(self._moved.wait())
        asked = asyncio.ensure_future(self._cluster.request(self._owner, message))
        await asyncio.wait({asked, moved}, return_when=asyncio.FIRST_COMPLETED)
        moved.cancel()
        if not asked.done():
            asked.cancel()
            raise TimeoutError
        return asked.result()

    def reject(self, client: Subscriber, code: ErrorCode, message: str) -> None:
        """A bad frame is answered here, without the owner, at the client's last seq."""
        if self._successor is not None:
            self._successor.reject(client, code, message)
            return
        self._reply(client, p.Error, code=code, content=message)

    def _reply(self, client: Subscriber, model: type[p.HubFrameModel], **fields: object) -> None:
        seq = self._last_seq.get(client.name, 0)
        client.deliver(codec.encode(model, self.id, seq, **fields))

    def _follow(self, client: Subscriber, epoch: str, after: int) -> None:
        if client not in self._tails:
            self._tails[client] = asyncio.create_task(self._tail(client, epoch, after))

    async def _tail(self, client: Subscriber, epoch: str, after: int) -> None:
        async for text in self._cluster.bus.tail(self.id, epoch, after):
            frame = codec.decode(text)
            self._last_seq[client.name] = frame.data["seq"]
            client.deliver(frame)

    # --- the owner's death --------------------------------------------------------------

    async def _watch_owner(self) -> None:
        while self._successor is None:
            await asyncio.sleep(self._cluster.bus.renew_every)
            try:
                await self._check_owner()
            except Exception:
                log.exception("session %s: checking its owner failed", self.id)

    async def _check_owner(self) -> bool:
        """True if the owner changed (it died) and the clients moved on."""
        owner = await self._cluster.bus.owner(self.id)
        if owner == self._owner:
            return False
        log.warning("session %s: its owner %s is gone", self.id, self._owner)
        live = await self._take_over(self.id) if owner is None else None
        clients = [(c, self._last_seq.get(c.name, 0)) for c in self._tails]
        for tail in self._tails.values():
            tail.cancel()
        self._tails.clear()
        moved, self._moved = self._moved, asyncio.Event()  # a new one for the new owner
        if live is not None:
            self._successor = live
            for client, last_seq in clients:
                self._cluster.forget_local(client)
                await live.attach(client, self._roles[client], ResumePoint(self._epoch, last_seq))
        else:
            self._owner = owner or await self._cluster.bus.owner(self.id) or self._owner
            for client, last_seq in clients:
                await self._attach_to_owner(client, ResumePoint(self._epoch, last_seq))
        moved.set()  # commands that waited on the dead owner go on, after the clients' resync
        return True
