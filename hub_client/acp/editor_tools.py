"""The hub's IDE-side tools, run in the editor through ACP's client methods.

`read_file` and `write_file` go to `fs/read_text_file` / `fs/write_text_file`, `execute_command`
to `terminal/*`, when the editor offers them; the rest (listing, searching, making directories)
and whatever the editor does not offer run on the bridge's machine in the session's directory,
with the hub's own workspace executor, which keeps every path inside it.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Literal

import acp
from acp.interfaces import Client
from acp.schema import ClientCapabilities, PermissionOption

from tools import args as a
from tools.registry import TOOLS, InvalidArguments, parse_arguments
from tools.workspace import ToolFailed, WorkspaceExecutor, paths

OUTPUT_LIMIT = 64 * 1024

ToolKind = Literal[
    "read", "edit", "delete", "move", "search", "execute", "think", "fetch", "switch_mode", "other"
]
# ACP's tool kinds, for the editor's icons.
KINDS: dict[str, ToolKind] = {
    "read_file": "read",
    "write_file": "edit",
    "list_files": "search",
    "search_in_code": "search",
    "create_directory": "edit",
    "execute_command": "execute",
    "switch_mode": "switch_mode",
}

PERMISSIONS = [
    PermissionOption(option_id="allow_once", name="Allow", kind="allow_once"),
    PermissionOption(option_id="allow_always", name="Always allow", kind="allow_always"),
    PermissionOption(option_id="reject_once", name="Reject", kind="reject_once"),
    PermissionOption(option_id="reject_always", name="Always reject", kind="reject_always"),
]


def title(tool_name: str, arguments: dict[str, Any]) -> str:
    """What the editor shows for a call: `write_file notes.md`, `execute_command make test`."""
    target = arguments.get("path") or arguments.get("command") or arguments.get("query") or ""
    return f"{tool_name} {target}".strip()


class EditorTools:
    def __init__(self, client: Client, capabilities: ClientCapabilities | None, cwd: str) -> None:
        self._client = client
        fs = capabilities.fs if capabilities is not None else None
        self._read = bool(fs and fs.read_text_file)
        self._write = bool(fs and fs.write_text_file)
        self._terminal = bool(capabilities and capabilities.terminal)
        self._cwd = Path(cwd)
        self._local = WorkspaceExecutor(self._cwd) if self._cwd.is_dir() else None

    async def run(self, session_id: str, tool_name: str, arguments: dict[str, Any]) -> str:
        """The result the model is told; ToolFailed with the reason when the call fails."""
        try:
            args = parse_arguments(TOOLS[tool_name], arguments)
        except (KeyError, InvalidArguments) as exc:
            raise ToolFailed(str(exc)) from None
        match args:
            case a.ReadFileArgs(path=path) if self._read:
                line, limit = _lines(args)
                read = await self._client.read_text_file(
                    session_id=session_id, path=self._inside(path), line=line, limit=limit
                )
                return read.content
            case a.WriteFileArgs(path=path, content=content) if self._write:
                await self._client.write_text_file(
                    session_id=session_id, path=self._inside(path, write=True), content=content
                )
                return f"wrote {path} ({len(content.encode())} bytes)"
            case a.ExecuteCommandArgs() if self._terminal:
                return await self._command(session_id, args)
        if self._local is None:
            raise ToolFailed(f"the editor cannot run {tool_name} and {self._cwd} is no directory")
        return await self._local.run(args)

    async def diff(self, session_id: str, tool_name: str, arguments: dict[str, Any]) -> Any:
        """For a `write_file`, ACP's diff content (the old text read from the editor when it
        offers reads); None for any other call."""
        if tool_name != "write_file" or not isinstance(arguments.get("content"), str):
            return None
        try:
            path = parse_arguments(TOOLS[tool_name], arguments).path  # type: ignore[attr-defined]
        except InvalidArguments:
            return None
        old = None
        if self._read:
            try:
                old = (await self._client.read_text_file(
                    session_id=session_id, path=self._inside(path))).content  # fmt: skip
            except (acp.RequestError, ToolFailed):
                old = None  # a new file, or one the call may not touch (it will say so)
        return acp.tool_diff_content(str(self._cwd / path), arguments["content"], old)

    def _inside(self, path: str, *, write: bool = False) -> str:
        """The file in the session's directory, as the hub's own executor resolves it: no
        symlink out of it, no write through a symlink (ToolFailed otherwise)."""
        root = paths.open_root(self._cwd)
        resolve = paths.resolve_for_write if write else paths.resolve
        return str(resolve(root, path))

    async def _command(self, session_id: str, args: a.ExecuteCommandArgs) -> str:
        try:
            argv = shlex.split(args.command)
        except ValueError as exc:  # an unclosed quote
            raise ToolFailed(f"cannot split the command: {exc}") from None
        if not argv:
            raise ToolFailed("the command is empty")
        cwd = self._inside(args.cwd) if args.cwd else str(self._cwd)
        terminal = await self._client.create_terminal(
            session_id=session_id, command=argv[0], args=argv[1:], cwd=cwd,
            output_byte_limit=OUTPUT_LIMIT,
        )  # fmt: skip
        terminal_id = terminal.terminal_id
        try:
            exited = await self._client.wait_for_terminal_exit(
                session_id=session_id, terminal_id=terminal_id
            )
            output = await self._client.terminal_output(
                session_id=session_id, terminal_id=terminal_id
            )
        finally:
            await self._client.release_terminal(session_id=session_id, terminal_id=terminal_id)
        status = f"exit code {exited.exit_code}" if exited.signal is None else exited.signal
        return f"{output.output}\n[{status}]" if output.output else f"[{status}]"


def _lines(args: a.ReadFileArgs) -> tuple[int | None, int | None]:
    if args.start_line is None and args.end_line is None:
        return None, None
    start = args.start_line or 1
    return start, None if args.end_line is None else args.end_line - start + 1
