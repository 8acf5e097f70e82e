"""What a file write would change, as a unified diff shown beside its approval."""

from __future__ import annotations

import difflib


def write_diff(path: str, current: str, new: str) -> str:
    lines = difflib.unified_diff(
        _lines(current), _lines(new), fromfile=f"a/{path}", tofile=f"b/{path}"
    )
    return "".join(lines)


def _lines(text: str) -> list[str]:
    # A last line without its newline would run into the next line of the diff.
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines
