"""Where a path the model gives lands: somewhere under the workspace root, or refused."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from tools.relpath import path_problem


class ToolFailed(Exception):
    """A failure the model is told about and can recover from (bad path, timeout, ...)."""


def open_root(root: Path) -> Path:
    """The real path of `root`; ValueError if it is not an existing directory."""
    try:
        resolved = Path(root).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"workspace root {root} does not exist") from exc
    if not resolved.is_dir():
        raise ValueError(f"workspace root {root} is not a directory")
    return resolved


def resolve(root: Path, path: str) -> Path:
    """The real path of `path` under root; symlinks are followed so they cannot escape."""
    if (problem := path_problem(path)) is not None:
        raise ToolFailed(problem)
    try:
        resolved = (root / path).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on 3.11
        raise ToolFailed(f"cannot resolve {path}: {exc}") from exc
    if not resolved.is_relative_to(root):
        raise ToolFailed(f"{path} is outside the workspace")
    return resolved


def resolve_for_write(root: Path, path: str) -> Path:
    """Like `resolve`, but a path through a symlink is refused: the file policy is checked on
    the name the model gave, so that name must be the file written."""
    resolved = resolve(root, path)
    if resolved != Path(os.path.normpath(root / path)):
        raise ToolFailed(f"{path} goes through a symlink; writes through symlinks are refused")
    return resolved


def relative(root: Path, path: Path) -> str:
    """How the model sees a path: relative to root, with forward slashes."""
    return path.relative_to(root).as_posix() or "."


@contextlib.contextmanager
def os_errors(label: str) -> Iterator[None]:
    """Turns an OSError into a ToolFailed naming the path as the model gave it."""
    try:
        yield
    except OSError as exc:
        raise ToolFailed(f"{label}: {exc.strerror or exc}") from exc
