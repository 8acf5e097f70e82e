"""Text as every database stores it. PostgreSQL refuses U+0000 in text and JSON, SQLite keeps
it: so a NUL the hub itself produced (a command's output, a model's token) is stored as U+FFFD,
the replacement character, the same on both. Clients cannot send NUL at all (hub/protocol)."""

from __future__ import annotations

from typing import Any

NUL, REPLACEMENT = "\x00", "\ufffd"


def storable(value: Any) -> Any:
    """`value` with every NUL in its strings (and keys) replaced; anything else as it is."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT) if NUL in value else value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value
