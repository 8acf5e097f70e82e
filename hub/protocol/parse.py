"""Validating what clients send: one frame, or a session id."""

from __future__ import annotations

import re

import orjson
from pydantic import ValidationError

from agents.vocab import ErrorCode
from hub.protocol.client import CLIENT_FRAME_TYPES, ClientFrame, client_frame_adapter
from tools.validation import describe


class FrameRejected(Exception):
    """A client frame the hub cannot accept; answered with an `error` frame of this code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_frame(raw: str | bytes, max_bytes: int) -> ClientFrame:
    """Validate one frame from a client, or raise `FrameRejected` saying exactly why."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise FrameRejected(
            ErrorCode.FRAME_TOO_LARGE, f"frame of {size} bytes exceeds the limit of {max_bytes}"
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FrameRejected(ErrorCode.INVALID_JSON, f"frame is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise FrameRejected(
            ErrorCode.INVALID_FRAME, "frame must be a JSON object with a string 'type'"
        )
    if data["type"] not in CLIENT_FRAME_TYPES:
        known = ", ".join(sorted(CLIENT_FRAME_TYPES))
        raise FrameRejected(
            ErrorCode.UNKNOWN_FRAME_TYPE,
            f"unknown frame type {data['type']!r}; expected one of: {known}",
        )
    try:
        return client_frame_adapter.validate_python(data)
    except ValidationError as exc:
        raise FrameRejected(
            ErrorCode.INVALID_FRAME, "invalid frame: " + describe(exc, whole="frame", skip=1)
        ) from None


_SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SESSION_ID_PATTERN = rf"^{_SESSION_ID.pattern}$"  # for JSON Schema and pydantic


def is_session_id(value: str) -> bool:
    # fullmatch: a `$` would let a trailing newline through.
    return _SESSION_ID.fullmatch(value) is not None
