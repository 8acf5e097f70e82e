"""`POST /agent/message/stream`: one turn as Server-Sent Events, in the original's format.

The turn runs on the same live session as the socket; only the encoding differs. Event bodies
keep the original's fields and key order (`{"token":…,"is_final":…,"type":"assistant_message"}`)
and the stream ends with `data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hub import protocol
from hub.access import sender_for, session_for
from hub.errors import ApiError
from hub.listener import RunListener
from hub.requests import read_json, refusal_error, validation_error
from hub.session.commands import Command, Refused
from hub.state import hub_state

DONE = b"data: [DONE]\n\n"


SSE_FRAMES = ("user_message", "tool_result", "hitl_decision", "switch_agent", "plan_decision")


class StreamTarget(BaseModel):
    session_id: str = Field(pattern=protocol.SESSION_ID_PATTERN)


def parse_body(body: Any) -> tuple[str, protocol.ClientFrame]:
    """The session and the frame of a POST body. Accepted shapes: the seed's
    `{session_id, role, content}`, the original gateway's `{session_id, message: {...}}`, and
    `{session_id, type, ...}` for tool results, decisions and agent switches."""
    if not isinstance(body, dict):
        raise ApiError(422, "body must be a JSON object", "invalid_request")
    try:
        session_id = StreamTarget.model_validate(body).session_id
        if isinstance(body.get("message"), dict):
            fields = body["message"]
        elif "type" in body:
            fields = body
        else:
            fields = {"type": "user_message", **body}
        if fields.get("type") not in SSE_FRAMES:
            raise ApiError(422, f"type must be one of: {', '.join(SSE_FRAMES)}", "invalid_request")
        return session_id, protocol.client_frame_adapter.validate_python(fields)
    except ValidationError as exc:
        raise validation_error(exc) from None


# The original's event bodies: which fields of each hub frame, in the original's key order.
# Frames not listed are not sent to SSE clients. `followup_question` and `plan_updated` are not
# the original's: without them an SSE client could not see what to answer, or how a plan goes.
SEED_FIELDS: dict[str, tuple[str, ...]] = {
    "assistant_message": ("token", "is_final", "type"),
    "tool_call": ("type", "call_id", "tool_name", "arguments", "requires_approval"),
    # `method` (llm, keywords, agent, user) is the hub's: after the original's fields.
    "agent_switched": (
        "type",
        "content",
        "from_agent",
        "to_agent",
        "reason",
        "confidence",
        "method",
    ),
    "error": ("type", "content", "code"),
    "followup_question": ("type", "call_id", "question", "options"),
    # The original's later versions: what a client needs to answer with `plan_decision`.
    "plan_approval_required": (
        "type",
        "content",
        "approval_request_id",
        "plan_id",
        "plan_summary",
    ),
    "plan_updated": ("type", "plan_id", "title", "status", "steps"),
}


def seed_event(data: dict[str, Any]) -> bytes | None:
    """The original's event for a hub frame, or None for frames SSE clients do not get."""
    keys = SEED_FIELDS.get(data["type"])
    if keys is None:
        return None
    return b"data: " + orjson.dumps({k: data[k] for k in keys}) + b"\n\n"


async def seed_events(listener: RunListener) -> AsyncIterator[bytes]:
    """The run in the original's event format."""
    # An `is_final` event waits for the next one: when a model call fails, its error goes
    # first, so a client that stops reading at `is_final` still sees why.
    held: bytes | None = None
    async for data in listener.frames():
        if (event := seed_event(data)) is None:
            continue
        if data["type"] == "assistant_message" and data["is_final"]:
            if held is not None:
                yield held
            held = event
            continue
        error = data["type"] == "error"
        if error:
            yield event
        if held is not None:
            yield held
            held = None
        if not error:
            yield event
    if held is not None:
        yield held
    yield DONE


async def message_stream(request: Request) -> Response:
    hub = hub_state(request)
    session_id, frame = parse_body(await read_json(request))
    await session_for(request, session_id, create=True)
    session = await hub.registry.open(session_id)
    listener = RunListener()
    # Before submitting: a switch's frame is published while the command is carried out.
    await session.attach(listener, "sse")
    outcome = await session.submit(Command(frame=frame, sender=sender_for(request, "sse", "sse")))
    if isinstance(outcome, Refused):
        session.detach(listener)
        raise refusal_error(outcome)
    listener.follow(outcome.run_id)

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for event in seed_events(listener):
                yield event
        finally:
            session.detach(listener)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


routes = [Route("/agent/message/stream", message_stream, methods=["POST"])]
