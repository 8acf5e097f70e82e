"""A session another process owns, as the endpoints here see it (a `SessionPort`): its
clients read the owner's frames from the bus; what they send goes to the owner."""

from __future__ import annotations

import asyncio

from agents.vocab import ErrorCode
from hub import codec
from hub import protocol as p
from hub.cluster import messages as m
from hub.cluster.owner import Cluster
from hub.fanout import Subscriber
from hub.session.clients import AttachRole, ResumePoint
from hub.session.commands import Accepted, Command, Outcome, Refused


class RelaySession:
    def __init__(self, cluster: Cluster, session_id: str, owner: str) -> None:
        self.id = session_id
        self._cluster = cluster
        self._owner = owner
        self._tails: dict[Subscriber, asyncio.Task[None]] = {}
        self._listeners: list[Subscriber] = []
        self._last_seq: dict[str, int] = {}

    @property
    def connections(self) -> int:
        return len(self._tails)

    async def attach(
        self, client: Subscriber, role: AttachRole, resume: ResumePoint | None = None
    ) -> None:
        if role == "sse":
            self._listeners.append(client)  # it follows from the seq `submit` answers with
            return
        self._cluster.register_local(client)
        request_id, reply_to = self._cluster.new_request()
        point = (resume.epoch, resume.last_seq) if resume is not None else None
        answer = await self._cluster.request(
            self._owner,
            m.Attach(
                request_id=request_id,
                reply_to=reply_to,
                session_id=self.id,
                client=client.name,
                resume=point,
            ),
        )
        self._follow(client, answer.epoch, answer.after)

    def detach(self, client: Subscriber) -> None:
        tail = self._tails.pop(client, None)
        if tail is not None:
            tail.cancel()
        self._last_seq.pop(client.name, None)
        if client in self._listeners:
            self._listeners.remove(client)
        self._cluster.forget_local(client)
        self._cluster.send(self._owner, m.Detach(session_id=self.id, client=client.name))

    async def submit(self, command: Command, origin: Subscriber | None = None) -> Outcome:
        """Pings are answered here; everything else by the owner, which answers `origin`."""
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
            answer = await self._cluster.request(self._owner, message)
        except TimeoutError:
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

    def reject(self, client: Subscriber, code: ErrorCode, message: str) -> None:
        """A bad frame is answered here, without the owner, at the client's last seq."""
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
