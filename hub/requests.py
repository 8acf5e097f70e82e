"""Reading requests and turning failures into JSON errors, for every HTTP endpoint."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from agents.vocab import ErrorCode
from db.records import StoredSession
from hub import protocol
from hub.access import sender_for, session_for
from hub.errors import ApiError
from hub.protocol.base import Frame
from hub.session.commands import Accepted, Command, Refused
from hub.state import hub_state
from tools.validation import describe

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Frame)
MAX_PAGE = 200


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 past `AGENT_RUNTIME__MAX_FRAME_BYTES` — by its declared length
    before reading any of it, else as soon as that much has arrived."""
    limit = hub_state(request).settings.max_frame_bytes
    declared = request.headers.get("content-length", "")
    too_large = ApiError(413, f"body exceeds AGENT_RUNTIME__MAX_FRAME_BYTES ({limit} bytes)")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def read_json(request: Request, *, optional: bool = False) -> Any:
    """The body as JSON; an `optional` body may be empty, which reads as `{}`."""
    body = await read_body(request)
    if optional and not body:
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}", "invalid_json") from None


def validation_error(exc: ValidationError, skip: int = 0) -> ApiError:
    return ApiError(422, describe(exc, whole="body", skip=skip), "invalid_request")


def session_id_of(request: Request) -> str:
    session_id: str = request.path_params["session_id"]
    if not protocol.is_session_id(session_id):
        raise ApiError(400, f"session id must match {protocol.SESSION_ID_PATTERN}")
    return session_id


async def existing_session(request: Request) -> StoredSession:
    """The path's session, if it exists and the caller may use it (else 404)."""
    return await session_for(request, session_id_of(request))


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_PAGE}")
    return int(raw)


_REFUSAL_STATUS = {
    ErrorCode.UNKNOWN_CALL: 404,
    ErrorCode.ALREADY_DECIDED: 409,
    ErrorCode.INVALID_DECISION: 422,
    ErrorCode.UNKNOWN_AGENT: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.SESSION_CLOSED: 503,
    ErrorCode.DATABASE_ERROR: 503,
    ErrorCode.INTERNAL_ERROR: 500,
}


def refusal_error(refused: Refused) -> ApiError:
    """A session's refusal as an HTTP error with a JSON body naming its code."""
    status = _REFUSAL_STATUS.get(refused.code, 400)
    return ApiError(status, refused.message, refused.code.value)


async def submit(request: Request, session_id: str, frame: protocol.ClientFrame) -> Accepted:
    """Submit a REST command to the session; a refusal is raised as its HTTP error."""
    session = await hub_state(request).registry.open(session_id)
    outcome = await session.submit(Command(frame=frame, sender=sender_for(request, "rest", "rest")))
    if isinstance(outcome, Refused):
        raise refusal_error(outcome)
    return outcome


async def read_frame(request: Request, model: type[F], **from_path: str) -> F:
    """A client frame whose body is the frame without `type` and the fields the path gives."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(422, "body must be a JSON object", "invalid_request")
    kind = model.model_fields["type"].default
    try:
        return model.model_validate(body | {"type": kind, **from_path})
    except ValidationError as exc:
        raise validation_error(exc) from None


async def read_model(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate(await read_json(request))
    except ValidationError as exc:
        raise validation_error(exc) from None
