"""execute_command: runs a program with its working directory confined to the workspace.

NOT a sandbox: the program can touch whatever the hub's user can.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from pathlib import Path

from tools.args import ExecuteCommandArgs
from tools.workspace.paths import ToolFailed, resolve

KILL_WAIT_SECONDS = 5.0
_READ_CHUNK = 64 * 1024
_SECRET_PREFIXES = ("AGENT_RUNTIME__", "OPENAI_")


async def execute_command(root: Path, args: ExecuteCommandArgs, limit: int) -> str:
    cwd = resolve(root, args.cwd) if args.cwd is not None else root
    if not cwd.is_dir():
        raise ToolFailed(f"cwd {args.cwd} is not a directory")
    argv = _split(args.command)
    process = await _spawn(argv, cwd)
    finished = False
    try:
        code, output, truncated = await asyncio.wait_for(_communicate(process, limit), args.timeout)
        finished = True
    except TimeoutError:
        raise ToolFailed(f"command timed out after {args.timeout}s") from None
    finally:
        if not finished:  # timed out or cancelled
            await _kill(process)
    text = output.decode("utf-8", errors="replace")
    return f"exit code {code}\n{text}" + ("\n[truncated]" if truncated else "")


def _split(command: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:  # an unclosed quote
        raise ToolFailed(f"cannot parse command: {exc}") from exc
    if not argv:
        raise ToolFailed("empty command")
    return argv


def _command_environment() -> dict[str, str]:
    """The hub's environment minus its own settings and keys: a model can run `env`."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_SECRET_PREFIXES)}


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


async def _communicate(process: asyncio.subprocess.Process, limit: int) -> tuple[int, bytes, bool]:
    output, truncated = await _drain(process, limit)
    return await process.wait(), output, truncated


async def _drain(process: asyncio.subprocess.Process, limit: int) -> tuple[bytes, bool]:
    """Keeps the first `limit` bytes and discards the rest, so chatty commands finish."""
    assert process.stdout is not None
    kept = bytearray()
    truncated = False
    while chunk := await process.stdout.read(_READ_CHUNK):
        room = limit - len(kept)
        truncated = truncated or len(chunk) > room
        kept += chunk[: max(room, 0)]
    return bytes(kept), truncated


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kills the process group; the wait is bounded in case a child escaped it with the pipe."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_WAIT_SECONDS)
