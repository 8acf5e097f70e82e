"""What clients may put in a field: text every database stores as it is, ids that fit their
columns. A violation is an `invalid_frame` (or HTTP 422) naming the field and the limit."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

ID_MAX = 128  # the call id and session id columns
PATTERN_MAX = 512  # an "always allow" rule's pattern column


def _no_nul(value: Any) -> Any:
    # PostgreSQL refuses U+0000 in text and JSON, SQLite would keep it: refuse it everywhere.
    if _has_nul(value):
        raise ValueError("NUL characters (\\u0000) are not accepted")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


Text = Annotated[str, AfterValidator(_no_nul)]
Json = Annotated[Any, AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul)]
CallId = Annotated[str, StringConstraints(max_length=ID_MAX), AfterValidator(_no_nul)]
Pattern = Annotated[str, StringConstraints(max_length=PATTERN_MAX), AfterValidator(_no_nul)]
