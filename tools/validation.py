"""How a pydantic validation error is told to a person or a model: one line per problem, each
naming where it is. Used by every layer (tools/ is the one all others may import)."""

from __future__ import annotations

from pydantic import ValidationError


def problems(exc: ValidationError, *, whole: str, skip: int = 0) -> list[tuple[str, str]]:
    """(where, what) per error; `skip` drops leading parts of each location (a union's tag),
    `whole` names the value itself when nothing is left."""
    found = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"][skip:]) or whole
        found.append((where, err["msg"]))
    return found


def describe(exc: ValidationError, *, whole: str, skip: int = 0) -> str:
    return "; ".join(f"{where}: {what}" for where, what in problems(exc, whole=whole, skip=skip))
