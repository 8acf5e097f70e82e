"""search_in_code: a grep over the UTF-8 text files under a workspace path."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from tools.args import SearchInCodeArgs
from tools.workspace.files import cap, walk
from tools.workspace.paths import ToolFailed, os_errors, relative, resolve

MAX_SEARCH_FILE_BYTES = 1024 * 1024
MAX_SEARCH_LINE_CHARS = 300


async def search_in_code(root: Path, args: SearchInCodeArgs, limit: int) -> str:
    matches = _matcher(args)
    base = resolve(root, args.path)
    with os_errors(args.path):
        return await asyncio.to_thread(_search_sync, root, base, args, matches, limit)


def _search_sync(
    root: Path, base: Path, args: SearchInCodeArgs, matches: Callable[[str], bool], limit: int
) -> str:
    results: list[str] = []
    for path in _search_files(base, args.path, args.file_pattern):
        for number, line in _text_lines(path):
            if not matches(line):
                continue
            if len(results) == args.max_results:
                results.append(f"[stopped at {args.max_results} results]")
                return cap("\n".join(results), limit)
            results.append(f"{relative(root, path)}:{number}: {_clip(line)}")
    return cap("\n".join(results), limit) if results else "no matches"


def _search_files(base: Path, label: str, file_pattern: str | None) -> Iterator[Path]:
    """A file named explicitly is searched even if hidden; a walk skips hidden names."""
    if base.is_file():
        yield base
        return
    if not base.is_dir():
        raise ToolFailed(f"{label} does not exist")
    for path, is_dir in walk(base, recursive=True, include_hidden=False):
        if is_dir or path.is_symlink():  # a symlinked file may point outside the root
            continue
        if file_pattern is None or fnmatchcase(path.name, file_pattern):
            yield path


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a UTF-8 text file; big, binary or unreadable files yield nothing."""
    try:
        if path.stat().st_size > MAX_SEARCH_FILE_BYTES:
            return
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeError):
        return
    if "\x00" not in text:
        yield from enumerate(text.splitlines(), start=1)


def _matcher(args: SearchInCodeArgs) -> Callable[[str], bool]:
    """A line predicate: a regex, or a substring (casefolded unless case_sensitive)."""
    if args.regex:
        try:
            pattern = re.compile(args.query, 0 if args.case_sensitive else re.IGNORECASE)
        except re.error as exc:
            raise ToolFailed(f"invalid regular expression {args.query!r}: {exc}") from exc
        return lambda line: pattern.search(line) is not None
    if args.case_sensitive:
        return lambda line: args.query in line
    folded = args.query.casefold()
    return lambda line: folded in line.casefold()


def _clip(line: str) -> str:
    """One search hit per output line, and minified files don't flood the output."""
    line = line.strip()
    return line if len(line) <= MAX_SEARCH_LINE_CHARS else line[:MAX_SEARCH_LINE_CHARS] + "…"
