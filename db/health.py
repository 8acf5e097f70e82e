"""Whether the database can be read and written now: what /health reports."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from db.models import ChatSession

DatabaseState = Literal["writable", "unwritable", "unreachable"]


async def _twice(query: Callable[[], Awaitable[object]]) -> bool:
    """Whether the query runs; a connection cut under the pool fails once, then is replaced."""
    for _ in range(2):
        try:
            await query()
        except Exception:
            continue
        return True
    return False


def _writable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.W_OK)


async def database_state(sqlite_file: Path | None) -> DatabaseState:
    """`writable`, `unwritable` (read-only, or an SQLite file deleted or made read-only
    under the hub: its writes would be lost) or `unreachable`."""
    if not await _twice(lambda: ChatSession.filter(id="").exists()):
        return "unreachable"
    if sqlite_file is not None and not _writable_file(sqlite_file):
        return "unwritable"
    # A write that changes nothing, refused all the same by a read-only database.
    if not await _twice(lambda: ChatSession.filter(id="").update(current_agent="")):
        return "unwritable"
    return "writable"
