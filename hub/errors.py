"""JSON error bodies for every HTTP failure: `{"error": code, "detail": text}`."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "invalid_request",
    429: "too_many_connections",
}


class ApiError(HTTPException):
    def __init__(self, status_code: int, detail: str, code: str | None = None) -> None:
        super().__init__(status_code, detail)
        self.code = code or _CODES.get(status_code, "error")


def error_response(status_code: int, detail: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": code or _CODES.get(status_code, "error"), "detail": detail},
        status_code=status_code,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = exc.code if isinstance(exc, ApiError) else None
    return error_response(exc.status_code, str(exc.detail), code)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error; see the hub's log", "internal_error")


async def refuse_websocket(websocket: WebSocket, status_code: int, detail: str) -> None:
    """Refuse a socket before the handshake with an HTTP status and a JSON body, where the
    server supports it (uvicorn does); otherwise close with 1008 and the detail as reason."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(status_code, detail))
    else:
        await websocket.close(code=1008, reason=detail[:120])
