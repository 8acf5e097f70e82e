"""This process's part in a cluster of hubs sharing one database and a `RedisBus`.

- `Cluster.serve` answers what other processes ask of the sessions this one owns.
- `RelaySession` stands in for a session another process owns: its clients here read the
  owner's frames from the bus, and what they send goes to the owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from hub import protocol as p
from hub.answers import SessionError
from hub.bus import RedisBus
from hub.fanout import Frame, Subscriber

if TYPE_CHECKING:
    from hub.registry import SessionRegistry
    from hub.session import LiveSession

log = logging.getLogger(__name__)
REQUEST_TIMEOUT = 10.0


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

    def __init__(self, bus: RedisBus, name: str, instance_id: str) -> None:
        self.name = name
        self._bus, self._instance_id = bus, instance_id

    def deliver(self, frame: Frame) -> None:
        self._bus.post(self._instance_id, {"op": "reply", "client": self.name, "text": frame.text})


class Cluster:
    def __init__(self, bus: RedisBus) -> None:
        self.bus = bus
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._local: dict[str, Subscriber] = {}  # clients here of sessions owned elsewhere

    def own(self, live: LiveSession) -> None:
        live.frames.export = FrameExporter(self.bus, live.id, live.frames.epoch)

    def relay(self, session_id: str, owner: str) -> RelaySession:
        return RelaySession(self, session_id, owner)

    async def request(self, owner: str, session_id: str, **fields: Any) -> dict[str, Any]:
        request_id = uuid.uuid4().hex
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = waiter
        message = {"id": request_id, "from": self.bus.instance_id, "session_id": session_id}
        self.bus.post(owner, message | fields)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                answer = await waiter
        finally:
            self._pending.pop(request_id, None)
        if "error" in answer:
            error = answer["error"]
            raise SessionError(p.ErrorCode(error["code"]), error["message"])
        return answer

    async def serve(self, registry: SessionRegistry) -> None:
        """Answer the other processes until cancelled; renew the leases meanwhile."""
        renewing = asyncio.create_task(self._renew(registry))
        try:
            async for message in self.bus.inbox():
                try:
                    await self._handle(registry, message)
                except Exception:
                    log.exception("cluster message %s failed", message.get("op"))
        finally:
            renewing.cancel()

    async def _renew(self, registry: SessionRegistry) -> None:
        while True:
            await asyncio.sleep(self.bus.renew_every)
            await self.bus.renew(registry.owned())

    async def _handle(self, registry: SessionRegistry, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "result":
            waiter = self._pending.get(message["id"])
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            return
        if op == "reply":
            client = self._local.get(message["client"])
            if client is not None:
                text = message["text"]
                client.deliver(Frame(orjson.loads(text), text))
            return
        live = await registry.open_owned(message["session_id"])
        answer = {"op": "result", "id": message.get("id")}
        try:
            answer |= await self._serve_op(live, message)
        except SessionError as exc:
            answer["error"] = {"code": exc.code.value, "message": str(exc)}
        if message.get("id") is not None:
            self.bus.post(message["from"], answer)

    async def _serve_op(self, live: LiveSession, message: dict[str, Any]) -> dict[str, Any]:
        op = message["op"]
        if op == "join":
            client = RemoteClient(self.bus, message["client"], message["from"])
            resume = (message["resume"][0], message["resume"][1]) if message.get("resume") else None
            await live.join(client, resume, remote=True)
            return {"epoch": live.frames.epoch, "after": live.frames.seq}
        if op == "leave":
            live.frames.remote.pop(message["client"], None)
            return {}
        if op == "frame":
            origin = live.frames.remote.get(message["client"])
            if origin is not None:
                await live.handle(p.client_frame_adapter.validate_python(message["frame"]), origin)
            return {}
        if op == "act":
            frame = p.client_frame_adapter.validate_python(message["frame"])
            run_id = await live.act(frame, message["by"])
            return {"run_id": run_id, "after": live.frames.seq, "epoch": live.frames.epoch}
        if op == "cancel":
            return {"cancelled": await live.cancel_turn()}
        raise SessionError(p.ErrorCode.NOT_SUPPORTED, f"unknown cluster operation {op!r}")

    def register_local(self, client: Subscriber) -> None:
        self._local[client.name] = client

    def forget_local(self, client: Subscriber) -> None:
        self._local.pop(client.name, None)


class RelaySession:
    """A session owned by another process, as the endpoints here see it."""

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

    async def join(self, client: Subscriber, resume: tuple[str, int] | None) -> None:
        self._cluster.register_local(client)
        answer = await self._cluster.request(
            self._owner, self.id, op="join", client=client.name, resume=resume
        )
        self._follow(client, answer["epoch"], answer["after"])

    def subscribe(self, listener: Subscriber) -> None:
        self._listeners.append(listener)  # it follows from the seq `act` answers with

    def detach(self, client: Subscriber) -> None:
        tail = self._tails.pop(client, None)
        if tail is not None:
            tail.cancel()
        self._last_seq.pop(client.name, None)
        if client in self._listeners:
            self._listeners.remove(client)
        self._cluster.forget_local(client)
        self._cluster.bus.post(
            self._owner, {"op": "leave", "session_id": self.id, "client": client.name}
        )

    async def handle(self, frame: p.ClientFrame, origin: Subscriber) -> None:
        message = {"op": "frame", "session_id": self.id, "client": origin.name}
        self._cluster.bus.post(self._owner, message | {"frame": frame.model_dump(mode="json")})

    async def act(self, frame: p.ClientFrame, by: str) -> str | None:
        answer = await self._cluster.request(
            self._owner, self.id, op="act", frame=frame.model_dump(mode="json"), by=by
        )
        for listener in self._listeners:
            self._follow(listener, answer["epoch"], answer["after"])
        run_id: str | None = answer["run_id"]
        return run_id

    async def cancel_turn(self) -> bool:
        answer = await self._cluster.request(self._owner, self.id, op="cancel")
        return bool(answer["cancelled"])

    def _follow(self, client: Subscriber, epoch: str, after: int) -> None:
        if client not in self._tails:
            self._tails[client] = asyncio.create_task(self._tail(client, epoch, after))

    async def _tail(self, client: Subscriber, epoch: str, after: int) -> None:
        async for text in self._cluster.bus.tail(self.id, epoch, after):
            frame = Frame(orjson.loads(text), text)
            self._last_seq[client.name] = frame.data["seq"]
            client.deliver(frame)

    def reject(self, client: Subscriber, code: p.ErrorCode, message: str) -> None:
        """A bad frame is answered here, without the owner, at the client's last seq."""
        seq = self._last_seq.get(client.name, 0)
        error = p.Error(
            session_id=self.id, seq=seq, ts=time.time_ns() // 1_000_000, code=code, content=message
        )
        data = error.model_dump(mode="json")
        client.deliver(Frame(data, orjson.dumps(data).decode()))
