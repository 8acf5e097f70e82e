"""execute_command: runs a program (no shell) in the workspace, inside the `CommandSandbox`,
with its output capped and its whole process group killed on timeout."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shlex
import signal
from pathlib import Path

from tools.args import ExecuteCommandArgs
from tools.workspace.paths import ToolFailed, resolve
from tools.workspace.sandbox import CommandSandbox, limit_resources

KILL_WAIT_SECONDS = 5.0
_READ_CHUNK = 64 * 1024


async def execute_command(
    root: Path, args: ExecuteCommandArgs, limit: int, sandbox: CommandSandbox, writable: bool
) -> str:
    """`writable`: the agent may change files, so the workspace is bound read-write."""
    cwd = resolve(root, args.cwd) if args.cwd is not None else root
    if not cwd.is_dir():
        raise ToolFailed(f"cwd {args.cwd} is not a directory")
    argv = sandbox.command(_split(args.command), root, cwd, writable)
    process = await _spawn(argv, cwd, sandbox.environment(), args.timeout + 1)
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


async def _spawn(
    argv: list[str], cwd: Path, env: dict[str, str], cpu_seconds: int
) -> asyncio.subprocess.Process:
    """Starts without a shell, in its own process group so a timeout kills its children too."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            env=env,
            preexec_fn=functools.partial(limit_resources, cpu_seconds),
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
