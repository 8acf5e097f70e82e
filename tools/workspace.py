"""The six IDE-side tools run on the hub itself, confined to one root directory.

Used for clients without an IDE socket and for headless runs (`AGENT_RUNTIME__WORKSPACE_ROOT`).
Every path the model gives goes through `WorkspaceExecutor.resolve`, which follows symlinks and
refuses anything that lands outside the root. `execute_command` is NOT a sandbox: the program it
starts can touch whatever the hub's user can; only its working directory is confined.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shlex
import signal
import stat
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from tools.args import (
    CreateDirectoryArgs,
    ExecuteCommandArgs,
    ListFilesArgs,
    ReadFileArgs,
    SearchInCodeArgs,
    ToolArgs,
    WriteFileArgs,
)

MAX_LIST_ENTRIES = 1000
MAX_SEARCH_FILE_BYTES = 1024 * 1024
MAX_SEARCH_LINE_CHARS = 300
KILL_WAIT_SECONDS = 5.0
_READ_CHUNK = 64 * 1024
# `C:\x`, `C:/x`, `C:x` and UNC `\\server\share`: absolute on Windows, refused everywhere.
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:|[\\/]{2})")
_SECRET_PREFIXES = ("AGENT_RUNTIME__", "OPENAI_")


def _command_environment() -> dict[str, str]:
    """The hub's environment minus its own settings and keys: a model can run `env`."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_SECRET_PREFIXES)}


class ToolFailed(Exception):
    """A failure the model is told about and can recover from (bad path, timeout, ...)."""


class WorkspaceExecutor:
    """Runs read/write/list/mkdir/execute/search inside `root`, never outside it."""

    def __init__(self, root: Path, max_output_bytes: int = 64 * 1024) -> None:
        try:
            resolved = Path(root).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise ValueError(f"workspace root {root} does not exist") from exc
        if not resolved.is_dir():
            raise ValueError(f"workspace root {root} is not a directory")
        if max_output_bytes < 1:
            raise ValueError("max_output_bytes must be positive")
        self.root = resolved
        self.max_output_bytes = max_output_bytes

    async def run(self, args: ToolArgs) -> str:
        """Run one tool call and return what the model is told; failures raise ToolFailed."""
        match args:
            case ReadFileArgs():
                return await self._read_file(args)
            case WriteFileArgs():
                return await self._write_file(args)
            case ListFilesArgs():
                return await self._list_files(args)
            case CreateDirectoryArgs():
                return await self._create_directory(args)
            case ExecuteCommandArgs():
                return await self._execute_command(args)
            case SearchInCodeArgs():
                return await self._search_in_code(args)
            case _:
                raise ToolFailed(f"{type(args).__name__} is not a workspace tool")

    async def current_text(self, path: str, limit: int = 1024 * 1024) -> str | None:
        """The whole file as text, "" if it does not exist yet, None if it cannot be shown
        (outside the workspace, binary, larger than `limit`): what a diff is made against."""
        try:
            target = self.resolve(path)
        except ToolFailed:
            return None
        if not target.exists():
            return ""
        try:
            if not target.is_file() or target.stat().st_size > limit:
                return None
            return await asyncio.to_thread(target.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def resolve(self, path: str) -> Path:
        """The real path of `path` under root; symlinks are followed so they cannot escape."""
        if "\x00" in path:
            raise ToolFailed("path contains a NUL byte")
        if path.startswith(("/", "\\")) or _WINDOWS_ABSOLUTE.match(path):
            raise ToolFailed(f"{path} is absolute: give a path relative to the workspace root")
        try:
            resolved = (self.root / path).resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on 3.11
            raise ToolFailed(f"cannot resolve {path}: {exc}") from exc
        if not resolved.is_relative_to(self.root):
            raise ToolFailed(f"{path} is outside the workspace")
        return resolved

    def relative(self, path: Path) -> str:
        """How the model sees a path: relative to root, with forward slashes."""
        return path.relative_to(self.root).as_posix() or "."

    # read_file

    async def _read_file(self, args: ReadFileArgs) -> str:
        start, end = args.start_line or 1, args.end_line
        if end is not None and end < start:
            raise ToolFailed(f"end_line {end} is before start_line {start}")
        target = self.resolve(args.path)
        with _os_errors(args.path):
            return await asyncio.to_thread(self._read_lines, target, args, start, end)

    def _read_lines(self, target: Path, args: ReadFileArgs, start: int, end: int | None) -> str:
        """Streams lines so a huge file costs no more than the output cap."""
        kept: list[str] = []
        size = number = 0
        try:
            with target.open(encoding=args.encoding, newline="") as file:
                for number, line in enumerate(file, start=1):
                    if "\x00" in line:
                        raise UnicodeError("NUL byte")
                    if number < start:
                        continue
                    if (end is not None and number > end) or size > self.max_output_bytes:
                        break
                    kept.append(line)
                    size += len(line.encode("utf-8", errors="replace"))
        except LookupError as exc:
            raise ToolFailed(f"unknown encoding {args.encoding}") from exc
        except UnicodeError as exc:
            raise ToolFailed(f"{args.path} is not a text file in {args.encoding}") from exc
        if args.start_line is not None and number < start:
            raise ToolFailed(f"{args.path} has only {number} lines")
        hint = "use start_line/end_line to read the rest"
        return _cap("".join(kept), self.max_output_bytes, hint)

    # write_file

    async def _write_file(self, args: WriteFileArgs) -> str:
        try:
            data = args.content.encode("utf-8")
        except UnicodeError as exc:
            raise ToolFailed("content is not valid Unicode (lone surrogate?)") from exc
        target = self.resolve(args.path)
        with _os_errors(args.path):
            await asyncio.to_thread(self._write_sync, target, data, args)
        return f"wrote {len(data)} bytes to {args.path}"

    def _write_sync(self, target: Path, data: bytes, args: WriteFileArgs) -> None:
        if target.is_dir():
            raise ToolFailed(f"{args.path} is a directory")
        if not target.parent.is_dir():
            if not args.create_dirs:
                raise ToolFailed(
                    f"the parent directory of {args.path} does not exist "
                    "(set create_dirs to create it)"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
        if args.backup and target.is_file():
            _atomic_write(target.with_name(target.name + ".bak"), target.read_bytes())
        _atomic_write(target, data)

    # list_files

    async def _list_files(self, args: ListFilesArgs) -> str:
        base = self.resolve(args.path)
        with _os_errors(args.path):
            return await asyncio.to_thread(self._list_sync, base, args)

    def _list_sync(self, base: Path, args: ListFilesArgs) -> str:
        if not base.is_dir():
            raise ToolFailed(f"{args.path} is not a directory")
        lines: list[str] = []
        for path, is_dir in _walk(base, args.recursive, args.include_hidden):
            if args.pattern is not None and not fnmatchcase(path.name, args.pattern):
                continue
            if len(lines) == MAX_LIST_ENTRIES:
                lines.append(f"[truncated at {MAX_LIST_ENTRIES} entries: narrow path or pattern]")
                break
            lines.append(self.relative(path) + ("/" if is_dir else ""))
        return _cap("\n".join(lines), self.max_output_bytes) if lines else "no entries"

    # create_directory

    async def _create_directory(self, args: CreateDirectoryArgs) -> str:
        target = self.resolve(args.path)
        with _os_errors(args.path):
            await asyncio.to_thread(self._mkdir_sync, target, args)
        return f"created directory {args.path}"

    def _mkdir_sync(self, target: Path, args: CreateDirectoryArgs) -> None:
        if not args.recursive and not target.parent.is_dir():
            raise ToolFailed(
                f"the parent directory of {args.path} does not exist (set recursive to create it)"
            )
        target.mkdir(parents=args.recursive, exist_ok=True)

    # execute_command

    async def _execute_command(self, args: ExecuteCommandArgs) -> str:
        cwd = self.resolve(args.cwd) if args.cwd is not None else self.root
        if not cwd.is_dir():
            raise ToolFailed(f"cwd {args.cwd} is not a directory")
        argv = _split(args.command)
        process = await _spawn(argv, cwd)
        finished = False
        try:
            code, output, truncated = await asyncio.wait_for(
                self._communicate(process), args.timeout
            )
            finished = True
        except TimeoutError:
            raise ToolFailed(f"command timed out after {args.timeout}s") from None
        finally:
            if not finished:  # timed out or cancelled
                await _kill(process)
        text = output.decode("utf-8", errors="replace")
        return f"exit code {code}\n{text}" + ("\n[truncated]" if truncated else "")

    async def _communicate(self, process: asyncio.subprocess.Process) -> tuple[int, bytes, bool]:
        output, truncated = await self._drain(process)
        return await process.wait(), output, truncated

    async def _drain(self, process: asyncio.subprocess.Process) -> tuple[bytes, bool]:
        """Keeps the first max_output_bytes and discards the rest, so chatty commands finish."""
        assert process.stdout is not None
        kept = bytearray()
        truncated = False
        while chunk := await process.stdout.read(_READ_CHUNK):
            room = self.max_output_bytes - len(kept)
            truncated = truncated or len(chunk) > room
            kept += chunk[: max(room, 0)]
        return bytes(kept), truncated

    # search_in_code

    async def _search_in_code(self, args: SearchInCodeArgs) -> str:
        matches = _matcher(args)
        base = self.resolve(args.path)
        with _os_errors(args.path):
            return await asyncio.to_thread(self._search_sync, base, args, matches)

    def _search_sync(
        self, base: Path, args: SearchInCodeArgs, matches: Callable[[str], bool]
    ) -> str:
        results: list[str] = []
        for path in self._search_files(base, args.path, args.file_pattern):
            for number, line in _text_lines(path):
                if not matches(line):
                    continue
                if len(results) == args.max_results:
                    results.append(f"[stopped at {args.max_results} results]")
                    return _cap("\n".join(results), self.max_output_bytes)
                results.append(f"{self.relative(path)}:{number}: {_clip(line)}")
        return _cap("\n".join(results), self.max_output_bytes) if results else "no matches"

    def _search_files(self, base: Path, label: str, file_pattern: str | None) -> Iterator[Path]:
        """A file named explicitly is searched even if hidden; a walk skips hidden names."""
        if base.is_file():
            yield base
            return
        if not base.is_dir():
            raise ToolFailed(f"{label} does not exist")
        for path, is_dir in _walk(base, recursive=True, include_hidden=False):
            if is_dir or path.is_symlink():  # a symlinked file may point outside the root
                continue
            if file_pattern is None or fnmatchcase(path.name, file_pattern):
                yield path


def _walk(
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
            yield from _walk(Path(entry.path), recursive, include_hidden, top=False)


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


def _split(command: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:  # an unclosed quote
        raise ToolFailed(f"cannot parse command: {exc}") from exc
    if not argv:
        raise ToolFailed("empty command")
    return argv


async def _spawn(argv: list[str], cwd: Path) -> asyncio.subprocess.Process:
    """Starts without a shell, in its own process group so a timeout kills its children too."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            env=_command_environment(),
        )
    except FileNotFoundError as exc:
        raise ToolFailed(f"program not found: {argv[0]}") from exc
    except OSError as exc:
        raise ToolFailed(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kills the process group; the wait is bounded in case a child escaped it with the pipe."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_WAIT_SECONDS)


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


@contextlib.contextmanager
def _os_errors(label: str) -> Iterator[None]:
    """Turns an OSError into a ToolFailed naming the path as the model gave it."""
    try:
        yield
    except OSError as exc:
        raise ToolFailed(f"{label}: {exc.strerror or exc}") from exc


def _cap(text: str, limit: int, hint: str = "") -> str:
    """At most `limit` UTF-8 bytes of text, plus a marker when something was cut."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    marker = f"[truncated: {hint}]" if hint else "[truncated]"
    return data[:limit].decode("utf-8", errors="ignore") + "\n" + marker
