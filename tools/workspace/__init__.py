"""The six IDE-side tools run on the hub itself, confined to one root directory.

Used for clients without an IDE socket and for headless runs (`AGENT_RUNTIME__WORKSPACE_ROOT`).
Every path the model gives goes through `WorkspaceExecutor.resolve`, which follows symlinks and
refuses anything that lands outside the root; writes never go through a symlink.
`execute_command` runs in a `CommandSandbox` (bubblewrap unless the operator opts out).
"""

from __future__ import annotations

import asyncio
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
from tools.workspace import paths
from tools.workspace.checkpoints import CheckpointError, Checkpoints
from tools.workspace.commands import execute_command
from tools.workspace.files import create_directory, list_files, read_file, write_file
from tools.workspace.paths import ToolFailed
from tools.workspace.sandbox import CommandSandbox
from tools.workspace.search import search_in_code

__all__ = ["Checkpoints", "CommandSandbox", "ToolFailed", "WorkspaceExecutor"]


class WorkspaceExecutor:
    """Runs read/write/list/mkdir/execute/search inside `root`, never outside it."""

    def __init__(
        self,
        root: Path,
        max_output_bytes: int = 64 * 1024,
        sandbox: CommandSandbox | None = None,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        resolved = paths.open_root(root)
        if max_output_bytes < 1:
            raise ValueError("max_output_bytes must be positive")
        self.root = resolved
        self.max_output_bytes = max_output_bytes
        self.sandbox = sandbox or CommandSandbox.choose()
        self.checkpoints = checkpoints  # None: changes are not checkpointed

    async def run_call(
        self, session_id: str, call_id: str, args: ToolArgs, *, writable: bool = True
    ) -> str:
        """`run`, after a checkpoint of the files if the call may change them, so that what it
        does can be seen and undone; a checkpoint that fails stops the call."""
        if self.checkpoints is not None and (what := _change(args, writable)) is not None:
            try:
                await self.checkpoints.take(session_id, f"{what} (call {call_id})")
            except CheckpointError as exc:
                raise ToolFailed(
                    f"the workspace could not be checkpointed, so nothing was changed ({exc}); "
                    "AGENT_RUNTIME__WORKSPACE_CHECKPOINTS=false turns checkpoints off"
                ) from None
        return await self.run(args, writable=writable)

    async def run(self, args: ToolArgs, *, writable: bool = True) -> str:
        """Run one tool call and return what the model is told; failures raise ToolFailed.
        `writable`: the agent may change files (commands get the workspace read-write)."""
        root, limit = self.root, self.max_output_bytes
        match args:
            case ReadFileArgs():
                return await read_file(root, args, limit)
            case WriteFileArgs():
                return await write_file(root, args)
            case ListFilesArgs():
                return await list_files(root, args, limit)
            case CreateDirectoryArgs():
                return await create_directory(root, args)
            case ExecuteCommandArgs():
                return await execute_command(root, args, limit, self.sandbox, writable)
            case SearchInCodeArgs():
                return await search_in_code(root, args, limit)
            case _:
                raise ToolFailed(f"{type(args).__name__} is not a workspace tool")

    def check(self, args: ToolArgs) -> None:
        """ToolFailed if the call's paths cannot be used as given (outside the root, through a
        symlink for a write), so it is refused before anyone is asked to approve it."""
        match args:
            case WriteFileArgs(path=path) | CreateDirectoryArgs(path=path):
                paths.resolve_for_write(self.root, path)
            case ReadFileArgs(path=path) | ListFilesArgs(path=path) | SearchInCodeArgs(path=path):
                paths.resolve(self.root, path)
            case ExecuteCommandArgs(cwd=str() as cwd):
                paths.resolve(self.root, cwd)

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
        return paths.resolve(self.root, path)

    def relative(self, path: Path) -> str:
        """How the model sees a path: relative to root, with forward slashes."""
        return paths.relative(self.root, path)


def _change(args: ToolArgs, writable: bool) -> str | None:
    """What the call may change, as a checkpoint's label; None if it only reads."""
    match args:
        case WriteFileArgs(path=path):
            return f"write_file {path}"
        case CreateDirectoryArgs(path=path):
            return f"create_directory {path}"
        case ExecuteCommandArgs(command=command) if writable:
            shown = " ".join(command.split())  # one line: it is the checkpoint's title
            shown = shown if len(shown) <= 80 else shown[:79] + "…"
            return f"execute_command {shown}"
    return None
