"""`POST /agent/message/stream`: one turn as Server-Sent Events, in the original's format.

The turn runs on the same live session as the socket; only the encoding differs. Event bodies
keep the original's fields and key order (`{"token":…,"is_final":…,"type":"assistant_message"}`)
and the stream ends with `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hub import protocol
from hub.errors import ApiError
from hub.rest import read_json, validation_error
from hub.session import Frame
from hub.state import hub_state

DONE = b"data: [DONE]\n\n"


class StreamRequest(BaseModel):
    """The seed's body `{session_id, role, content}`, or the original gateway's
    `{session_id, message: {type: "user_message", content}}`."""

    session_id: str = Field(pattern=protocol.SESSION_ID_PATTERN)
    role: protocol.Role = "user"
    content: str
    type: Literal["user_message"] = "user_message"

    @model_validator(mode="before")
    @classmethod
    def _unwrap_gateway_body(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("message"), dict):
            return {"session_id": data.get("session_id"), **data["message"]}
        return data


def seed_event(data: dict[str, Any]) -> bytes | None:
    """The original's body for a hub frame, or None for frames it never had."""
    kind = data["type"]
    if kind == "assistant_message":
        body: dict[str, Any] = {"token": data["token"], "is_final": data["is_final"], "type": kind}
    elif kind == "tool_call":
        body = {
            "type": kind,
            "call_id": data["call_id"],
            "tool_name": data["tool_name"],
            "arguments": data["arguments"],
            "requires_approval": data["requires_approval"],
        }
    elif kind == "agent_switched":
        keys = ("type", "content", "from_agent", "to_agent", "reason", "confidence")
        body = {k: data[k] for k in keys}
    elif kind == "error":
        body = {"type": kind, "content": data["content"], "code": data["code"]}
    else:
        return None
    return b"data: " + orjson.dumps(body) + b"\n\n"


class RunListener:
    """A `Subscriber` that keeps the frames of one run, from its start to its end."""

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id
        self._active = False
        self._frames: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def deliver(self, frame: Frame) -> None:
        data = frame.data
        if data["type"] == "run_started" and data["run_id"] == self._run_id:
            self._active = True
        elif data["type"] == "run_finished" and data["run_id"] == self._run_id:
            self._active = False
            self._frames.put_nowait(None)
        elif self._active:
            self._frames.put_nowait(data)

    async def events(self) -> AsyncIterator[bytes]:
        while (data := await self._frames.get()) is not None:
            if (event := seed_event(data)) is not None:
                yield event
        yield DONE


async def message_stream(request: Request) -> Response:
    try:
        body = StreamRequest.model_validate(await read_json(request))
    except ValidationError as exc:
        raise validation_error(exc) from None
    if len(body.content.encode()) > hub_state(request).settings.max_frame_bytes:
        raise ApiError(413, "content exceeds AGENT_RUNTIME__MAX_FRAME_BYTES")
    live = await hub_state(request).registry.open(body.session_id)
    # The run starts in a later task step, so subscribing right after submit misses nothing.
    listener = RunListener(live.submit(body.content, body.role).run_id)
    live.subscribe(listener)

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for event in listener.events():
                yield event
        finally:
            live.detach(listener)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


routes = [Route("/agent/message/stream", message_stream, methods=["POST"])]
