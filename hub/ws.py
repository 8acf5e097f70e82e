"""The IDE socket, `/ws/{session_id}`: read frames, hand them to the live session, write frames.

Each connection has a bounded outbox drained by its own writer task, so a slow client never
holds up the run or the other clients: its token frames are merged while it lags, and it is cut
off (close 1013, resume with `last_seq`) if it stops taking frames. Query parameters:
`client=console` (an observer, not an IDE), `last_seq` and `epoch` (resume), `ticket` (auth).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Literal

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub import logs, protocol
from hub.access import sender_for, session_for
from hub.auth import origin_allowed, principal_of
from hub.codec import Frame
from hub.config import Settings
from hub.errors import ApiError, refuse_websocket
from hub.metrics import HubMetrics
from hub.outbox import Outbox
from hub.registry import SessionPort
from hub.session.clients import ResumePoint
from hub.session.commands import Command
from hub.state import HubState, hub_state
from hub.watchdog import CLOSE_TOO_SLOW

log = logging.getLogger(__name__)


class SocketClient:
    """A `Subscriber` writing one WebSocket from its bounded outbox."""

    def __init__(
        self,
        websocket: WebSocket,
        role: Literal["ide", "console"],
        settings: Settings,
        metrics: HubMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self.name = f"{role}:{uuid.uuid4().hex[:12]}"
        self.role = role
        self.sender = sender_for(websocket, role, self.name)
        self._websocket = websocket
        self._outbox = Outbox(settings.send_queue_frames, settings.send_queue_max_frames)
        self.last_activity = time.monotonic()
        self.sending_since: float | None = None  # set while a send waits on a slow client

    def deliver(self, frame: Frame) -> None:
        self._outbox.put(frame)

    @property
    def merged(self) -> int:
        """Token frames merged in its outbox while it lagged."""
        return self._outbox.merged

    async def pump(self) -> None:
        # No timer per frame (this is the hot path): the watchdog looks at `sending_since`.
        while (frame := await self._outbox.get()) is not None:
            self.sending_since = time.monotonic()
            await self._websocket.send_text(frame.text)
            self.last_activity, self.sending_since = self.sending_since, None
        log.warning("closing %s: too many frames it cannot take", self.name)
        await self.close(CLOSE_TOO_SLOW, "too slow; reconnect with last_seq")

    async def close(self, code: int, reason: str) -> None:
        """The hub ends the connection (too slow, idle)."""
        if self._metrics is not None:
            self._metrics.cut_off(code)
        with contextlib.suppress(RuntimeError):  # already closed: nothing to do
            await self._websocket.close(code, reason)


async def session_socket(websocket: WebSocket) -> None:
    session_id: str = websocket.path_params["session_id"]
    hub = hub_state(websocket)
    if not origin_allowed(websocket.headers, websocket.url.scheme, hub.settings.allowed_origins):
        origin = websocket.headers.get("origin")
        detail = f"origin {origin} is not allowed; add it to AGENT_RUNTIME__ALLOWED_ORIGINS"
        await refuse_websocket(websocket, 403, detail)
        return
    if not protocol.is_session_id(session_id):
        detail = f"session id must match {protocol.SESSION_ID_PATTERN}"
        await refuse_websocket(websocket, 400, detail)
        return
    try:
        resume = _resume_point(websocket)
    except ValueError as exc:
        await refuse_websocket(websocket, 400, str(exc))
        return
    try:
        await session_for(websocket, session_id, create=True)
    except ApiError as exc:
        await refuse_websocket(websocket, exc.status_code, str(exc.detail))
        return
    user = principal_of(websocket).user
    if user is not None and not hub.users.may_connect(user):
        limit = hub.users.max_connections
        detail = f"user {user} has {limit} connections (AGENT_RUNTIME__MAX_CONNECTIONS_PER_USER)"
        await refuse_websocket(websocket, 429, detail)
        return
    if user is not None:
        hub.users.connected(user)  # at once: sockets opened together must count each other
    try:
        await _serve(websocket, hub, session_id, resume)
    finally:
        if user is not None:
            hub.users.disconnected(user)


async def _serve(
    websocket: WebSocket, hub: HubState, session_id: str, resume: ResumePoint | None
) -> None:
    live = await hub.registry.open(session_id)
    if live.connections >= hub.settings.max_connections_per_session:
        limit = hub.settings.max_connections_per_session
        await refuse_websocket(websocket, 429, f"session {session_id} has {limit} connections")
        return
    await websocket.accept()
    # The console says so; anything else is an IDE, which runs the calls it approves itself.
    role: Literal["ide", "console"] = "ide"
    if websocket.query_params.get("client") == "console":
        role = "console"
    client = SocketClient(websocket, role, hub.settings, hub.metrics)
    logs.bind(session_id=session_id, client=client.name, user=client.sender.user)
    hub.metrics.socket_opened(role)
    try:
        await live.attach(client, role, resume)
        await _run(websocket, hub, live, client)
    finally:  # also when attaching failed: the gauge must not drift
        hub.metrics.socket_closed(role)
        hub.metrics.merged.inc(client.merged)


async def _run(
    websocket: WebSocket, hub: HubState, live: SessionPort, client: SocketClient
) -> None:
    """Write frames and read them until either side ends."""
    tasks = [
        asyncio.create_task(client.pump()),
        asyncio.create_task(_read_frames(websocket, live, client, hub.settings.max_frame_bytes)),
    ]
    hub.watchdog.watch(client)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.watchdog.forget(client)
        live.detach(client)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _resume_point(websocket: WebSocket) -> ResumePoint | None:
    raw = websocket.query_params.get("last_seq")
    if raw is None:
        return None
    if not raw.isdigit():
        raise ValueError("last_seq must be a non-negative integer")
    return ResumePoint(websocket.query_params.get("epoch", ""), int(raw))


async def _read_frames(
    websocket: WebSocket, live: SessionPort, client: SocketClient, max_bytes: int
) -> None:
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        client.last_activity = time.monotonic()
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        try:
            frame = protocol.parse_client_frame(raw, max_bytes)
        except protocol.FrameRejected as exc:
            live.reject(client, exc.code, exc.message)
            continue
        await live.submit(Command(frame=frame, sender=client.sender), client)


routes = [WebSocketRoute("/ws/{session_id}", session_socket)]
