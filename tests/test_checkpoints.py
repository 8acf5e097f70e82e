"""Checkpoints of the workspace in a shadow git repository, with real git on real files."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import routed
from tests.hub_process import unattended_hub
from tests.scripted_llm import ScriptedLLM, Text, ToolCalls
from tests.socket_client import AUTH, ide, receive, receive_until, send
from tools.workspace.checkpoints import Checkpoints


def files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('v1')\n")
    (root / "README.md").write_text("# project\n")
    (root / ".gitignore").write_text("build/\n")
    (root / "build").mkdir()
    (root / "build" / "out.bin").write_text("artifact")
    return root


async def test_checkpoint_write_restore_gives_identical_files_and_is_undoable(
    workspace: Path, tmp_path: Path
) -> None:
    checkpoints = Checkpoints(workspace, tmp_path / "shadow")
    original = files(workspace)
    first = await checkpoints.take("s1", "write_file src/app.py (call w-1)")
    (workspace / "src" / "app.py").write_text("print('v2')\n")
    (workspace / "new.txt").write_text("new\n")
    (workspace / "README.md").unlink()
    diff = await checkpoints.diff(first)
    assert "-print('v1')" in diff and "+print('v2')" in diff
    assert "new.txt" in diff and "README.md" in diff and "build/" not in diff
    changed = files(workspace)

    undo = await checkpoints.restore("s1", first)
    assert files(workspace) == original  # the new file gone, the deleted one back
    assert (workspace / "build" / "out.bin").read_text() == "artifact"  # ignored: untouched
    assert "+print('v2')" in await checkpoints.diff(first)  # up to the restore's checkpoint

    await checkpoints.restore("s1", undo)  # the restore undone
    assert files(workspace) == changed
    listed = await checkpoints.of_session("s1")
    assert [c.label for c in listed] == [
        f"restore of {undo.id[:12]}",
        f"restore of {first.id[:12]}",
        "write_file src/app.py (call w-1)",
    ]


async def test_sessions_see_their_own_checkpoints_and_bad_ids_find_nothing(
    workspace: Path, tmp_path: Path
) -> None:
    checkpoints = Checkpoints(workspace, tmp_path / "shadow")
    assert await checkpoints.of_session("s1") == []
    mine = await checkpoints.take("s1", "mine")
    await checkpoints.take("s10", "theirs")  # a session whose id starts like s1's
    assert [c.id for c in await checkpoints.of_session("s1")] == [mine.id]
    assert await checkpoints.get("s1", mine.id[:12]) == (await checkpoints.of_session("s1"))[0]
    for bad in ("HEAD", "../x", "--all", mine.id[:6], "f" * 40):
        assert await checkpoints.get("s1", bad) is None
    theirs = (await checkpoints.of_session("s10"))[0]
    assert await checkpoints.get("s1", theirs.id) is None


def git(workspace: Path, *args: str) -> bytes:
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    done = subprocess.run(["git", *identity, *args], cwd=workspace, check=True, capture_output=True)
    return done.stdout


async def test_the_projects_own_repository_is_left_alone(workspace: Path, tmp_path: Path) -> None:
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "own"]):
        await asyncio.to_thread(git, workspace, *args)
    checkpoints = Checkpoints(workspace, tmp_path / "shadow")
    first = await checkpoints.take("s1", "before")
    (workspace / "src" / "app.py").write_text("changed\n")
    assert await asyncio.to_thread(git, workspace, "status", "--porcelain") != b""
    await checkpoints.restore("s1", first)
    assert await asyncio.to_thread(git, workspace, "status", "--porcelain") == b""
    assert ".git/" not in await checkpoints.diff(first)


def test_the_shadow_repository_may_not_live_in_the_workspace(workspace: Path) -> None:
    with pytest.raises(ValueError, match="outside the workspace"):
        Checkpoints(workspace, workspace / ".checkpoints")


async def test_a_turns_writes_are_checkpointed_shown_and_undone_over_rest(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "app.py").write_text("print('v1')\n")
    hub = unattended_hub(tmp_path, llm.base_url, workspace)
    writes = ToolCalls(
        [
            ("w-1", "write_file", {"path": "app.py", "content": "print('v2')\n"}),
            ("w-2", "create_directory", {"path": "docs"}),
            ("r-1", "read_file", {"path": "app.py"}),  # reads take no checkpoint
        ]
    )
    llm.push(routed(), writes, Text(["Changed it."]))
    try:
        async with ide(hub, "cp-e2e") as ws:
            await receive(ws)
            await send(ws, type="user_message", content="change app.py", role="user")
            assert (await receive_until(ws, "run_finished"))[-1]["reason"] == "completed"
        async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
            listed = (await client.get("/sessions/cp-e2e/checkpoints")).json()
            assert listed["enabled"] is True
            labels = [c["label"] for c in listed["checkpoints"]]
            assert labels == ["create_directory docs (call w-2)", "write_file app.py (call w-1)"]
            first = listed["checkpoints"][-1]["id"]
            shown = (await client.get(f"/sessions/cp-e2e/checkpoints/{first[:12]}")).json()
            assert "-print('v1')" in shown["diff"] and "+print('v2')" in shown["diff"]
            assert "docs" not in shown["diff"]  # the next call's change is the next checkpoint's

            restored = await client.post(f"/sessions/cp-e2e/checkpoints/{first}/restore")
            assert restored.status_code == 200
            assert (workspace / "app.py").read_text() == "print('v1')\n"
            assert not (workspace / "docs").exists()
            undo = restored.json()["undo"]["id"]
            assert (await client.post(f"/sessions/cp-e2e/checkpoints/{undo}/restore")).is_success
            assert (workspace / "app.py").read_text() == "print('v2')\n"
            assert (workspace / "docs").is_dir()

            missing = await client.get("/sessions/cp-e2e/checkpoints/deadbeefdead")
            other = await client.get(f"/sessions/other-session/checkpoints/{first}")
            assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
            assert other.status_code == 404
    finally:
        hub.stop()


async def test_nested_repositories_and_odd_names_neither_break_nor_fool_checkpoints(
    workspace: Path, tmp_path: Path
) -> None:
    checkpoints = Checkpoints(workspace, tmp_path / "shadow")
    (workspace / "vendor" / "lib").mkdir(parents=True)
    await asyncio.to_thread(git, workspace / "vendor" / "lib", "init", "-q")  # no commit yet
    (workspace / "vendor" / "lib" / "x.c").write_text("int x;\n")
    odd = 'note\nSession: victim\nEmpty-Directory: "/etc/evil"\x01'
    first = await checkpoints.take("s1", f"write_file {odd}")
    (workspace / "empty\nSession: victim").mkdir()  # an empty directory with a newline
    second = await checkpoints.take("s1", "after")
    assert await checkpoints.of_session("victim") == []
    assert [c.id for c in await checkpoints.of_session("s1")] == [second.id, first.id]
    listed = await checkpoints.get("s1", first.id)
    assert listed is not None and "\n" not in listed.label and "\x01" not in listed.label
    assert "vendor" not in await checkpoints.diff(first)  # the nested repository is left out
    await checkpoints.restore("s1", first)
    assert not (workspace / "empty\nSession: victim").exists()
    assert (workspace / "vendor" / "lib" / "x.c").read_text() == "int x;\n"  # untouched
    await checkpoints.restore("s1", second)
    assert (workspace / "empty\nSession: victim").is_dir()
    assert not await asyncio.to_thread(os.path.exists, "/etc/evil")
