"""Commands on the hub's workspace run in bubblewrap: they cannot read the hub's secrets, reach
the network, write outside the workspace, or write at all for an agent that may not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.script import Text, ToolCalls
from tests.fakes.session import rig
from tests.frames import say
from tests.test_workspace import sandbox
from tools.args import ExecuteCommandArgs, WriteFileArgs
from tools.workspace import CommandSandbox, ToolFailed, WorkspaceExecutor
from tools.workspace.sandbox import NO_SANDBOX

SECRET = "the-hub-internal-key-0123456789"
ESCAPED = Path("/var/tmp/escaped-from-the-sandbox")
HAS_PYTHON = Path("/usr/bin/python3").exists()


def escaped() -> bool:
    return ESCAPED.exists()


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkspaceExecutor:
    monkeypatch.setenv("AGENT_RUNTIME__INTERNAL_API_KEY", SECRET)
    monkeypatch.setenv("SOME_TOKEN", SECRET)  # not one of the hub's names: still not passed on
    root = tmp_path / "ws"
    root.mkdir()
    return WorkspaceExecutor(root, sandbox=sandbox("bwrap"))


async def run(ws: WorkspaceExecutor, command: str, *, writable: bool = True) -> str:
    return await ws.run(ExecuteCommandArgs(command=command, timeout=10), writable=writable)


async def test_a_command_sees_no_secret_of_the_hub(ws: WorkspaceExecutor) -> None:
    out = await run(ws, "sh -c 'env; cat /proc/1/environ /proc/$PPID/environ; ls /proc'")
    assert SECRET not in out
    assert "AGENT_RUNTIME__" not in out
    hub_files = await run(ws, f"ls -A {Path.cwd()}")  # the hub's own directory is hidden
    assert hub_files == "exit code 0\n"


async def test_a_read_only_agent_cannot_write_and_nobody_writes_outside(
    ws: WorkspaceExecutor,
) -> None:
    refused = await run(ws, "touch made-by-debug", writable=False)
    assert not refused.startswith("exit code 0") and "Read-only file system" in refused
    assert not (ws.root / "made-by-debug").exists()
    assert (await run(ws, "touch made-by-coder")).startswith("exit code 0")
    assert (ws.root / "made-by-coder").exists()
    outside = await run(ws, f"touch {ESCAPED}")
    assert not outside.startswith("exit code 0")
    assert not escaped()


@pytest.fixture
async def listening() -> AsyncIterator[int]:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_a_command_has_no_network(ws: WorkspaceExecutor, listening: int) -> None:
    if not HAS_PYTHON:
        pytest.skip("the check needs /usr/bin/python3 inside the sandbox")
    connect = f"import socket; socket.create_connection(('127.0.0.1', {listening}), timeout=2)"
    out = await run(ws, f'python3 -c "{connect}"')
    assert not out.startswith("exit code 0")
    assert "Network is unreachable" in out or "Connection refused" in out


async def test_without_bubblewrap_commands_are_refused_saying_how_to_fix_it(tmp_path: Path) -> None:
    ws = WorkspaceExecutor(tmp_path, sandbox=CommandSandbox(None))
    with pytest.raises(ToolFailed, match="apt-get install bubblewrap") as refused:
        await ws.run(ExecuteCommandArgs(command="true"))
    assert str(refused.value) == NO_SANDBOX
    assert "AGENT_RUNTIME__COMMAND_SANDBOX=none" in NO_SANDBOX
    # Files still work without a sandbox.
    await ws.run(WriteFileArgs(path="a.md", content="x"))


async def test_the_debug_agent_runs_commands_on_a_read_only_workspace(
    ws: WorkspaceExecutor,
) -> None:
    make = ToolCalls([("k1", "execute_command", {"command": "touch debug-was-here"})])
    r = await rig(make, Text(["done"]), agent="debug", policies={}, workspace=ws)
    await say(r.live, "reproduce it")
    finished = await r.ide.until_type("tool_finished")
    assert "Read-only file system" in finished["content"]
    assert not (ws.root / "debug-was-here").exists()
    await r.ide.until_type("run_finished")
    await r.live.close()


def test_the_opt_out_is_explicit() -> None:
    assert CommandSandbox.choose("none").mode == "none"
    assert CommandSandbox.choose(None).mode != "none"  # never unsandboxed by default
