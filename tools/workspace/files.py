"""read_file, write_file, list_files and create_directory, plus the walk and cap they share."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TextIO

from tools.args import CreateDirectoryArgs, ListFilesArgs, ReadFileArgs, WriteFileArgs
from tools.workspace.paths import ToolFailed, os_errors, relative, resolve, resolve_for_write

MAX_LIST_ENTRIES = 1000
_PIECE = 64 * 1024  # characters read at a time


async def read_file(root: Path, args: ReadFileArgs, limit: int) -> str:
    start, end = args.start_line or 1, args.end_line
    if end is not None and end < start:
        raise ToolFailed(f"end_line {end} is before start_line {start}")
    target = resolve(root, args.path)
    with os_errors(args.path):
        return await asyncio.to_thread(_read_lines, target, args, start, end, limit)


def _read_lines(target: Path, args: ReadFileArgs, start: int, end: int | None, limit: int) -> str:
    """Reads in pieces of at most `_PIECE` characters, never a whole line first, so a huge
    file — even one huge line — costs no more than the output cap."""
    kept: list[str] = []
    size = 0
    number = 1  # the line the next piece belongs to
    last = ""
    try:
        with target.open(encoding=args.encoding, newline="") as file:
            pieces = _pieces(file)
            while size <= limit and (end is None or number <= end):
                if (piece := next(pieces, "")) == "":
                    break
                if "\x00" in piece:
                    raise UnicodeError("NUL byte")
                if number >= start:
                    kept.append(piece)
                    size += len(piece.encode("utf-8", errors="replace"))
                if piece.endswith(("\n", "\r")):
                    number += 1
                last = piece
    except LookupError as exc:
        raise ToolFailed(f"unknown encoding {args.encoding}") from exc
    except UnicodeError as exc:
        raise ToolFailed(f"{args.path} is not a text file in {args.encoding}") from exc
    if args.start_line is not None and not kept:
        lines = number - 1 + (bool(last) and not last.endswith(("\n", "\r")))
        raise ToolFailed(f"{args.path} has only {lines} lines")
    hint = "use start_line/end_line to read the rest"
    return cap("".join(kept), limit, hint)


def _pieces(file: TextIO) -> Iterator[str]:
    """The file in pieces of at most about `_PIECE` characters, each within one line, and
    never one that ends between the \r and \n of a line end."""
    while piece := file.readline(_PIECE):
        while piece.endswith("\r") and len(piece) >= _PIECE:
            following = file.readline(_PIECE)
            if not following.startswith("\n"):
                yield piece
                piece = following
                continue
            yield piece + "\n"
            piece = following[1:]
        if piece:
            yield piece


async def write_file(root: Path, args: WriteFileArgs) -> str:
    try:
        data = args.content.encode("utf-8")
    except UnicodeError as exc:
        raise ToolFailed("content is not valid Unicode (lone surrogate?)") from exc
    target = resolve_for_write(root, args.path)
    with os_errors(args.path):
        await asyncio.to_thread(_write_sync, target, data, args)
    return f"wrote {len(data)} bytes to {args.path}"


def _write_sync(target: Path, data: bytes, args: WriteFileArgs) -> None:
    if target.is_dir():
        raise ToolFailed(f"{args.path} is a directory")
    if not target.parent.is_dir():
        if not args.create_dirs:
            raise ToolFailed(
                f"the parent directory of {args.path} does not exist (set create_dirs to create it)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
    if args.backup and target.is_file():
        _atomic_write(target.with_name(target.name + ".bak"), target.read_bytes())
    _atomic_write(target, data)


def _atomic_write(target: Path, data: bytes) -> None:
    """Temp file + rename: never a half-written file, and a symlink at target is replaced."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        with contextlib.suppress(FileNotFoundError):  # keep the mode of the file it replaces
            mode = os.lstat(target).st_mode
            if stat.S_ISREG(mode):
                os.chmod(temp, stat.S_IMODE(mode))
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


async def list_files(root: Path, args: ListFilesArgs, limit: int) -> str:
    base = resolve(root, args.path)
    with os_errors(args.path):
        return await asyncio.to_thread(_list_sync, root, base, args, limit)


def _list_sync(root: Path, base: Path, args: ListFilesArgs, limit: int) -> str:
    if not base.is_dir():
        raise ToolFailed(f"{args.path} is not a directory")
    lines: list[str] = []
    for path, is_dir in walk(base, args.recursive, args.include_hidden):
        if args.pattern is not None and not fnmatchcase(path.name, args.pattern):
            continue
        if len(lines) == MAX_LIST_ENTRIES:
            lines.append(f"[truncated at {MAX_LIST_ENTRIES} entries: narrow path or pattern]")
            break
        lines.append(relative(root, path) + ("/" if is_dir else ""))
    return cap("\n".join(lines), limit) if lines else "no entries"


async def create_directory(root: Path, args: CreateDirectoryArgs) -> str:
    target = resolve_for_write(root, args.path)
    with os_errors(args.path):
        await asyncio.to_thread(_mkdir_sync, target, args)
    return f"created directory {args.path}"


def _mkdir_sync(target: Path, args: CreateDirectoryArgs) -> None:
    if not args.recursive and not target.parent.is_dir():
        raise ToolFailed(
            f"the parent directory of {args.path} does not exist (set recursive to create it)"
        )
    target.mkdir(parents=args.recursive, exist_ok=True)


def walk(
    base: Path, recursive: bool, include_hidden: bool, top: bool = True
) -> Iterator[tuple[Path, bool]]:
    """(path, is_dir) in sorted tree order; symlinked directories are shown but not entered."""
    try:
        with os.scandir(base) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        if top:
            raise
        return  # an unreadable subdirectory should not spoil a whole recursive walk
    for entry in entries:
        if not include_hidden and entry.name.startswith("."):
            continue
        is_dir = entry.is_dir()
        yield Path(entry.path), is_dir
        if recursive and is_dir and not entry.is_symlink():
            yield from walk(Path(entry.path), recursive, include_hidden, top=False)


def cap(text: str, limit: int, hint: str = "") -> str:
    """At most `limit` UTF-8 bytes of text, plus a marker when something was cut."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    marker = f"[truncated: {hint}]" if hint else "[truncated]"
    return data[:limit].decode("utf-8", errors="ignore") + "\n" + marker
