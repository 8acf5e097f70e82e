"""The IDE socket, `/ws/{session_id}`: read frames, hand them to the live session, write frames.

Each connection drains its own outbound queue in a writer task, so a slow client never holds
up the run or the other clients of the session.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub import protocol
from hub.errors import refuse_websocket
from hub.fanout import Frame
from hub.session import LiveSession
from hub.state import hub_state

log = logging.getLogger(__name__)
_SESSION_ID = re.compile(protocol.SESSION_ID_PATTERN)


class SocketClient:
    """A `Subscriber` that queues encoded frames for one WebSocket."""

    def __init__(self, websocket: WebSocket, kind: str) -> None:
        self.name = f"{kind}:{uuid.uuid4().hex[:12]}"
        self._websocket = websocket
        self._outbox: asyncio.Queue[str] = asyncio.Queue()

    def deliver(self, frame: Frame) -> None:
        self._outbox.put_nowait(frame.text)

    async def pump(self) -> None:
        while True:
            await self._websocket.send_text(await self._outbox.get())


async def session_socket(websocket: WebSocket) -> None:
    session_id: str = websocket.path_params["session_id"]
    if not _SESSION_ID.match(session_id):
        detail = f"session id must match {protocol.SESSION_ID_PATTERN}"
        await refuse_websocket(websocket, 400, detail)
        return
    hub = hub_state(websocket)
    await websocket.accept()
    live = await hub.registry.open(session_id)
    # The console says so; anything else is an IDE, which runs the calls it approves itself.
    kind = "console" if websocket.query_params.get("client") == "console" else "ide"
    client = SocketClient(websocket, kind)
    live.attach(client)
    writer = asyncio.create_task(client.pump())
    try:
        await _read_frames(websocket, live, client, hub.settings.max_frame_bytes)
    except WebSocketDisconnect:
        pass
    finally:
        live.detach(client)
        writer.cancel()


async def _read_frames(
    websocket: WebSocket, live: LiveSession, client: SocketClient, max_bytes: int
) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        try:
            frame = protocol.parse_client_frame(raw, max_bytes)
        except protocol.FrameRejected as exc:
            live.reply_error(client, exc.code, exc.message)
            continue
        await live.handle(frame, client)


routes = [WebSocketRoute("/ws/{session_id}", session_socket)]
