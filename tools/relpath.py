"""What makes a path the model gives unusable before anything touches a disk.

Checked when the arguments are parsed, so a call that cannot run is sent back to the model
as an error instead of being put to a human for approval first. The workspace executor checks
the same again (and follows symlinks) when it runs the call.
"""

from __future__ import annotations

import posixpath
import re

# `C:\x`, `C:/x`, `C:x` and UNC `\\server\share`: absolute on Windows, refused everywhere.
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:|[\\/]{2})")


def path_problem(path: str) -> str | None:
    """Why `path` cannot name something inside the workspace, or None if it may."""
    if "\x00" in path:
        return "path contains a NUL byte"
    if path.startswith(("/", "\\")) or _WINDOWS_ABSOLUTE.match(path):
        return f"{path} is absolute: give a path relative to the workspace root"
    if posixpath.normpath(path.replace("\\", "/")).split("/")[0] == "..":
        return f"{path} is outside the workspace"
    return None


def workspace_path(path: str) -> str:
    """A pydantic validator: the path, or ValueError saying what is wrong with it."""
    if (problem := path_problem(path)) is not None:
        raise ValueError(problem)
    return path
