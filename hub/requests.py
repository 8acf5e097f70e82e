"""Reading requests and turning failures into JSON errors, for every HTTP endpoint."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from db import store
from db.models import ChatSession
from hub import protocol
from hub.answers import SessionError
from hub.errors import ApiError

M = TypeVar("M", bound=BaseModel)
MAX_PAGE = 200


async def read_json(request: Request) -> Any:
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}", "invalid_json") from None


def validation_error(exc: ValidationError) -> ApiError:
    problems = "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )
    return ApiError(422, problems, "invalid_request")


def session_id_of(request: Request) -> str:
    session_id: str = request.path_params["session_id"]
    if not protocol.is_session_id(session_id):
        raise ApiError(400, f"session id must match {protocol.SESSION_ID_PATTERN}")
    return session_id


async def existing_session(request: Request) -> ChatSession:
    session = await store.get_session(session_id_of(request))
    if session is None:
        raise ApiError(404, f"no session {request.path_params['session_id']!r}")
    return session


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_PAGE}")
    return int(raw)


_SESSION_ERROR_STATUS = {
    protocol.ErrorCode.UNKNOWN_CALL: 404,
    protocol.ErrorCode.ALREADY_DECIDED: 409,
    protocol.ErrorCode.INVALID_DECISION: 422,
    protocol.ErrorCode.UNKNOWN_AGENT: 422,
}


def session_error(exc: SessionError) -> ApiError:
    return ApiError(_SESSION_ERROR_STATUS.get(exc.code, 400), str(exc), exc.code.value)


async def read_model(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate(await read_json(request))
    except ValidationError as exc:
        raise validation_error(exc) from None
