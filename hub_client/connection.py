"""A session's socket as typed frames, which survives dropped connections.

    async with HubClient("http://127.0.0.1:8001", "my-session", token=token) as hub:
        await hub.send_message("write hello.py")
        async for frame in hub.frames():
            match frame:
                case p.AssistantMessage(token=text):
                    print(text, end="")
                case p.ToolCall(call_id=call_id, requires_approval=True):
                    await hub.approve(call_id)
                case p.RunFinished():
                    break

When the connection drops (not closed by us), the client reconnects with the last `seq` and
the stream's `epoch`: the hub sends exactly the frames it missed, or a `resync` with the stored
history if it no longer has them. `frames()` goes on across reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import quote, urlencode

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
)

from hub import protocol as p

log = logging.getLogger(__name__)

RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # then 5 s between tries, until `give_up_after`
JWT_SHAPE = re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+$")


def is_user_token(credential: str) -> bool:
    """A user's JWT goes as a bearer token; anything else is taken for the internal key."""
    return JWT_SHAPE.match(credential) is not None


class HubRefused(Exception):
    """The hub refused the socket (bad credentials, another's session, a limit): no retry."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        try:
            self.detail = str(orjson.loads(body).get("detail", body))
        except (orjson.JSONDecodeError, AttributeError):
            self.detail = body.decode(errors="replace")
        super().__init__(f"the hub refused the socket ({status}): {self.detail}")


class HubClient:
    def __init__(
        self,
        url: str,
        session_id: str,
        *,
        key: str | None = None,
        token: str | None = None,
        role: Literal["ide", "console"] = "ide",
        give_up_after: float = 60.0,
    ) -> None:
        """`url`: the hub's http(s) or ws(s) base URL; `key` (X-Internal-Auth) or `token` (a
        user's JWT). `give_up_after`: seconds of failed reconnects before `frames()` raises."""
        base = url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self.session_id = session_id
        self._url = f"{base}/ws/{quote(session_id, safe='')}"
        self._headers = {"X-Internal-Auth": key} if key else {}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._role = role
        self._give_up_after = give_up_after
        self._ws: ClientConnection | None = None
        self._reconnecting = asyncio.Lock()  # the reader and a sender may both find it broken
        self._closing = False
        self.last_seq: int | None = None
        self.epoch: str | None = None
        self.reconnects = 0

    async def __aenter__(self) -> HubClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        query: dict[str, Any] = {"client": "console"} if self._role == "console" else {}
        if self.last_seq is not None and self.epoch is not None:
            query |= {"last_seq": self.last_seq, "epoch": self.epoch}
        url = f"{self._url}?{urlencode(query)}" if query else self._url
        try:
            self._ws = await connect(url, additional_headers=self._headers, max_size=None)
        except InvalidStatus as exc:
            raise HubRefused(exc.response.status_code, bytes(exc.response.body or b"")) from None

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()

    async def frames(self) -> AsyncIterator[p.HubFrame]:
        """Every frame of the session, typed, across reconnects, until `close()`."""
        while True:
            ws = self._ws
            if ws is None:
                raise RuntimeError("not connected: use `async with HubClient(...)`")
            try:
                async for raw in ws:
                    frame = p.hub_frame_adapter.validate_json(raw)
                    if self._seen(frame):
                        continue  # buffered on the old connection and replayed on the new
                    self._remember(frame)
                    yield frame
                if self._closing:
                    return
                raise ConnectionClosedOK(None, None)  # the hub closed it: resume
            except ConnectionClosed:
                if self._closing:
                    return
                await self._replace(ws)

    def _seen(self, frame: p.HubFrame) -> bool:
        numbered = not isinstance(frame, p.Error | p.SessionReady)
        return numbered and self.last_seq is not None and frame.seq <= self.last_seq

    def _remember(self, frame: p.HubFrame) -> None:
        if isinstance(frame, p.SessionReady):
            if frame.epoch != self.epoch:
                self.last_seq = None  # a new stream (the hub restarted): its seq starts anew
            self.epoch = frame.epoch
            if frame.resumed:
                return  # the greeting of a resume: the missed frames follow it
        if isinstance(frame, p.Error):
            return  # an answer to this client only: outside the numbered stream
        self.last_seq = frame.seq

    async def _replace(self, broken: ClientConnection) -> None:
        """A new connection for `broken`, unless someone else already made one."""
        async with self._reconnecting:
            if self._ws is broken:
                await self._reconnect()

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up_after
        for attempt in range(1_000_000):
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            try:
                await self.connect()
            except HubRefused as exc:
                if exc.status < 500:
                    raise  # credentials or limits: trying again will not help
                failure: Exception = exc
            except (OSError, InvalidHandshake) as exc:
                failure = exc
            else:
                if self._closing:  # closed while we were away
                    await self.close()
                    return
                self.reconnects += 1
                return
            if loop.time() > deadline:
                raise ConnectionError(f"the hub at {self._url} is unreachable: {failure}")
            log.info("reconnecting to %s: %s", self._url, failure)

    # --- commands ---------------------------------------------------------------------------

    async def send(self, frame: p.ClientFrame) -> None:
        """Send a command; over a dropped connection, once more over the resumed one."""
        ws = self._ws
        if ws is None:
            raise RuntimeError("not connected")
        text = frame.model_dump_json(exclude_none=True)
        try:
            await ws.send(text)
        except ConnectionClosed:
            await self._replace(ws)
            assert self._ws is not None
            await self._ws.send(text)

    async def send_message(
        self, content: str, *, interrupt: bool = False, tools: list[p.ClientTool] | None = None
    ) -> None:
        """`tools`: this client's own tools, offered to the model from this message on."""
        await self.send(p.UserMessage(content=content, interrupt=interrupt, tools=tools))

    async def approve(self, call_id: str, *, always: bool = False) -> None:
        await self.send(p.HitlDecision(call_id=call_id, decision="approve", always_allow=always))

    async def edit(self, call_id: str, arguments: dict[str, Any]) -> None:
        await self.send(
            p.HitlDecision(call_id=call_id, decision="edit", modified_arguments=arguments)
        )

    async def reject(
        self, call_id: str, feedback: str | None = None, *, always: bool = False
    ) -> None:
        """`always`: refuse matching calls in this session from now on (a deny rule)."""
        await self.send(
            p.HitlDecision(
                call_id=call_id, decision="reject", feedback=feedback, always_deny=always
            )
        )

    async def tool_result(
        self, call_id: str, result: str | None = None, error: str | None = None
    ) -> None:
        await self.send(p.ToolResult(call_id=call_id, result=result, error=error))

    async def cancel(self) -> None:
        await self.send(p.Cancel())

    async def switch_agent(self, agent: str, reason: str = "requested by the user") -> None:
        await self.send(p.SwitchAgent(agent_type=agent, reason=reason))
