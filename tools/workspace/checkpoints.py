"""Checkpoints of the hub's workspace: a shadow git repository outside it, so that every change
an agent makes can be seen and undone without touching the project's own `.git`.

Before each call that may change files (a write, a new directory, a command the agent may write
with) the whole tree is committed to one chain, labelled with the session and the call. What a
call changed is the difference to the next checkpoint (or to the files as they are now).
Restoring puts the files back as a checkpoint had them — after taking a checkpoint of how they
are, so a restore is undone by restoring that one. The project's `.gitignore` rules apply: what
it ignores is neither kept nor touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tools.workspace.paths import ToolFailed

CHAIN = "refs/heads/checkpoints"
LIST_MAX = 200
DIFF_MAX_BYTES = 512 * 1024
_ID = re.compile(r"^[0-9a-f]{7,40}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
EMPTY_MAX = 1000  # empty directories named in one checkpoint
_NAMED = re.compile(r"^Empty-Directory: (.+)$", re.MULTILINE)


class CheckpointError(ToolFailed):
    """git failed, or there is no such checkpoint; the message says which."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: str  # the commit
    session_id: str
    label: str  # what was about to happen: "write_file notes.md (call w-1)"
    created_at: datetime


class Checkpoints:
    def __init__(self, root: Path, git_dir: Path) -> None:
        root, git_dir = root.resolve(), git_dir.resolve()
        if git_dir.is_relative_to(root):
            raise ValueError(f"the checkpoints ({git_dir}) must be kept outside the workspace")
        self.root, self.git_dir = root, git_dir
        self._lock = asyncio.Lock()  # one chain: its head moves one commit at a time

    async def take(self, session_id: str, label: str) -> Checkpoint:
        async with self._lock:
            return await self._commit(session_id, label)

    async def of_session(self, session_id: str) -> list[Checkpoint]:
        """The session's checkpoints, newest first."""
        if not await self._has_chain():
            return []
        out = await self._git(
            "log", CHAIN, f"--max-count={LIST_MAX}", "--extended-regexp",
            f"--grep=^Session: {_ere_literal(session_id)}$", "--format=%H%x00%ct%x00%B%x01",
        )  # fmt: skip
        found = (_parse(entry) for entry in out.split("\x01") if entry.strip())
        return [c for c in found if c is not None and c.session_id == session_id]

    async def get(self, session_id: str, checkpoint_id: str) -> Checkpoint | None:
        if not _ID.match(checkpoint_id):
            return None
        return next(
            (c for c in await self.of_session(session_id) if c.id.startswith(checkpoint_id)), None
        )

    async def diff(self, checkpoint: Checkpoint) -> str:
        """What changed from this checkpoint to the next one, or to the files as they are."""
        after = await self._next(checkpoint.id)
        if after is None:
            async with self._lock:
                after = await self._tree_now()
        return await self.diff_between(checkpoint.id, after)

    async def diff_between(self, before: str, after: str) -> str:
        """What changed from one checkpoint (or tree) to another, as a unified diff."""
        if not (_ID.match(before) and _ID.match(after)):
            raise CheckpointError("a checkpoint id is 7 to 40 hexadecimal digits")
        text = await self._git("diff", "--no-color", "--no-renames", before, after)
        if len(text) > DIFF_MAX_BYTES:
            cut = len(text) - DIFF_MAX_BYTES
            text = text[:DIFF_MAX_BYTES] + f"\n[diff cut: {cut} more characters]\n"
        return text

    async def restore(self, session_id: str, checkpoint: Checkpoint) -> Checkpoint:
        """Put the files back as `checkpoint` had them; the checkpoint taken first is returned."""
        async with self._lock:
            before = await self._commit(session_id, f"restore of {checkpoint.id[:12]}")
            with _scratch_index() as index:
                env = {"GIT_INDEX_FILE": index}
                await self._git("read-tree", before.id, env=env)
                # Two-tree switch: files the checkpoint lacks go, the others take its content.
                await self._git("read-tree", "-u", "--reset", checkpoint.id, env=env)
            await self._restore_empty_directories(checkpoint.id)
            return before

    async def _empty_directories(self) -> list[str]:
        """The workspace's empty directories, as relative paths, but those the project ignores."""
        found = (await asyncio.to_thread(_walk, self.root)).empty
        if not found:
            return []
        ignored = await self._git(
            "check-ignore", "--no-index", "--stdin", stdin="\n".join(found), ok=(0, 1)
        )
        return sorted(set(found) - set(ignored.splitlines()))

    async def _restore_empty_directories(self, commit: str) -> None:
        message = await self._git("log", "-1", "--format=%B", commit)
        wanted = {path for path in map(_json_string, _NAMED.findall(message)) if path}
        for path in await self._empty_directories():
            if path not in wanted:
                with contextlib.suppress(OSError):  # no longer empty: it holds files now
                    (self.root / path).rmdir()
        for path in wanted:
            target = (self.root / path).resolve()
            if target.is_relative_to(self.root):  # written by us, but never trusted blindly
                target.mkdir(parents=True, exist_ok=True)

    async def _commit(self, session_id: str, label: str) -> Checkpoint:
        await self._init()
        tree = await self._tree_now()
        parent = ["-p", CHAIN] if await self._has_chain() else []
        # git keeps no directories, only files: the empty ones are named in the message, as
        # JSON strings (a name may hold a newline); the label is made one line for the same
        # reason, so nothing in it can pass for the lines after it.
        empty = await self._empty_directories()
        named = "".join(f"Empty-Directory: {json.dumps(d)}\n" for d in empty[:EMPTY_MAX])
        message = f"{_one_line(label)}\n\nSession: {session_id}\n{named}"
        commit = (await self._git("commit-tree", tree, *parent, "-m", message)).strip()
        await self._git("update-ref", CHAIN, commit)
        return Checkpoint(commit, session_id, label, datetime.now(UTC))

    async def _tree_now(self) -> str:
        """The files as they are, as a tree object; the project's own index is never used."""
        nested = (await asyncio.to_thread(_walk, self.root)).nested
        # Repositories inside the workspace keep their own history: left out, as git would
        # store them as links to commits it does not have.
        excluded = [f":(exclude,literal){path}" for path in nested]
        with _scratch_index() as index:
            env = {"GIT_INDEX_FILE": index}
            await self._git("add", "--all", "--", ".", *excluded, env=env)
            return (await self._git("write-tree", env=env)).strip()

    async def _next(self, commit: str) -> str | None:
        later = await self._git("rev-list", "--reverse", "--ancestry-path", f"{commit}..{CHAIN}")
        return later.split()[0] if later.strip() else None

    async def _has_chain(self) -> bool:
        if not (self.git_dir / "HEAD").exists():
            return False
        try:
            await self._git("rev-parse", "--verify", "--quiet", CHAIN)
        except CheckpointError:
            return False
        return True

    async def _init(self) -> None:
        if not (self.git_dir / "HEAD").exists():
            self.git_dir.mkdir(parents=True, exist_ok=True)
            await self._git("init", "--quiet", "--bare", str(self.git_dir), bare=True)

    async def _git(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        bare: bool = False,
        stdin: str | None = None,
        ok: tuple[int, ...] = (0,),
    ) -> str:
        where = [] if bare else [f"--git-dir={self.git_dir}", f"--work-tree={self.root}"]
        process = await asyncio.create_subprocess_exec(
            "git", *_CONFIG, *where, *args,
            cwd=self.root, env={**_ENV, **(env or {})}, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate(stdin.encode() if stdin is not None else None)
        if process.returncode not in ok:
            said = err.decode(errors="replace").strip() or f"exit code {process.returncode}"
            raise CheckpointError(f"git {args[0]} failed: {said}")
        return out.decode(errors="replace")


# Neither the host's nor the user's git configuration applies: no hooks, no signing, no
# line-ending conversion, the same author everywhere.
_CONFIG = (
    "-c", "user.name=agent hub", "-c", "user.email=checkpoints@agent-hub.invalid",
    "-c", "core.autocrlf=false", "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false",
)  # fmt: skip
_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "LC_ALL": "C",
}


@contextlib.contextmanager
def _scratch_index() -> Iterator[str]:
    """An index file of its own for one operation, removed after."""
    with tempfile.TemporaryDirectory(prefix="agent-hub-index-") as scratch:
        yield os.path.join(scratch, "index")


@dataclass(frozen=True, slots=True)
class _Tree:
    empty: list[str]  # directories with nothing in them
    nested: list[str]  # repositories of their own inside the workspace


def _walk(root: Path) -> _Tree:
    empty, nested = [], []
    for directory, subdirectories, names in os.walk(root):
        here = Path(directory).relative_to(root).as_posix()
        if directory != str(root) and (".git" in subdirectories or ".git" in names):
            nested.append(here)
            subdirectories[:] = []
            continue
        subdirectories[:] = [d for d in subdirectories if d != ".git"]
        if not subdirectories and not names and directory != str(root):
            empty.append(here)
    return _Tree(empty, nested)


def _json_string(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text)


def _ere_literal(text: str) -> str:
    """`text` matched as itself in a POSIX extended regular expression."""
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", text)


def _parse(entry: str) -> Checkpoint | None:
    try:
        commit, created, message = entry.strip("\n").split("\x00", 2)
        moment = datetime.fromtimestamp(int(created), UTC)
    except ValueError:
        return None  # not written by this module
    label = message.split("\n", 1)[0]
    session = re.search(r"^Session: (.+)$", message, re.MULTILINE)
    if session is None:
        return None
    return Checkpoint(commit, session.group(1), label, moment)
