"""The hub-side workspace tools: what they do, and that no path gets them outside the root."""

from __future__ import annotations

import asyncio
import os
import secrets
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tools.args import (
    CreateDirectoryArgs,
    ExecuteCommandArgs,
    ListFilesArgs,
    ReadFileArgs,
    SearchInCodeArgs,
    SwitchModeArgs,
    ToolArgs,
    WriteFileArgs,
)
from tools.workspace import CommandSandbox, ToolFailed, WorkspaceExecutor
from tools.workspace.sandbox import SandboxMode


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


def sandbox(mode: SandboxMode) -> CommandSandbox:
    chosen = CommandSandbox.choose(mode)
    if chosen.mode is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("bubblewrap (bwrap) is required in CI but not installed")
        pytest.skip("bubblewrap (bwrap) is not installed; required only in CI")
    return chosen


@pytest.fixture(params=["bwrap", "none"])
def ws(root: Path, request: pytest.FixtureRequest) -> WorkspaceExecutor:
    """Every tool the same in and out of the command sandbox."""
    return WorkspaceExecutor(root, sandbox=sandbox(request.param))


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# construction


def test_root_must_be_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        WorkspaceExecutor(tmp_path / "missing")
    with pytest.raises(ValueError, match="not a directory"):
        WorkspaceExecutor(write(tmp_path / "file", "x"))


async def test_tools_that_are_not_workspace_tools_are_refused(ws: WorkspaceExecutor) -> None:
    with pytest.raises(ToolFailed, match="not a workspace tool"):
        await ws.run(SwitchModeArgs(mode="coder", reason="x"))


# read_file


async def test_read_whole_file_and_line_ranges(ws: WorkspaceExecutor, root: Path) -> None:
    write(root / "a.txt", "one\ntwo\nthree\nfour\n")

    assert await ws.run(ReadFileArgs(path="a.txt")) == "one\ntwo\nthree\nfour\n"
    assert await ws.run(ReadFileArgs(path="a.txt", start_line=2, end_line=3)) == "two\nthree\n"
    assert await ws.run(ReadFileArgs(path="a.txt", start_line=3)) == "three\nfour\n"
    assert await ws.run(ReadFileArgs(path="a.txt", end_line=1)) == "one\n"
    assert await ws.run(ReadFileArgs(path="a.txt", start_line=4, end_line=99)) == "four\n"


async def test_read_refuses_bad_ranges(ws: WorkspaceExecutor, root: Path) -> None:
    write(root / "a.txt", "one\ntwo\n")

    with pytest.raises(ToolFailed, match="end_line 1 is before start_line 2"):
        await ws.run(ReadFileArgs(path="a.txt", start_line=2, end_line=1))
    with pytest.raises(ToolFailed, match="has only 2 lines"):
        await ws.run(ReadFileArgs(path="a.txt", start_line=5))


async def test_read_failures_are_told_to_the_model(ws: WorkspaceExecutor, root: Path) -> None:
    write(root / "blob.bin", b"\x89PNG\x00\x01\xff\xfe")
    (root / "dir").mkdir()

    with pytest.raises(ToolFailed, match="missing.txt: No such file"):
        await ws.run(ReadFileArgs(path="missing.txt"))
    with pytest.raises(ToolFailed, match="blob.bin is not a text file in utf-8"):
        await ws.run(ReadFileArgs(path="blob.bin"))
    with pytest.raises(ToolFailed, match="dir: Is a directory"):
        await ws.run(ReadFileArgs(path="dir"))
    with pytest.raises(ToolFailed, match="unknown encoding"):
        await ws.run(ReadFileArgs(path="blob.bin", encoding="no-such-codec"))


async def test_read_with_another_encoding(ws: WorkspaceExecutor, root: Path) -> None:
    write(root / "latin.txt", "café\n".encode("latin-1"))

    assert await ws.run(ReadFileArgs(path="latin.txt", encoding="latin-1")) == "café\n"
    with pytest.raises(ToolFailed, match="not a text file in utf-8"):
        await ws.run(ReadFileArgs(path="latin.txt"))


async def test_read_output_is_capped(root: Path) -> None:
    ws = WorkspaceExecutor(root, max_output_bytes=100, sandbox=sandbox("bwrap"))
    write(root / "big.txt", "".join(f"line {n}\n" for n in range(1000)))

    text = await ws.run(ReadFileArgs(path="big.txt"))

    assert text.startswith("line 0\nline 1\n")
    assert "[truncated" in text
    assert len(text.split("\n[truncated")[0].encode()) <= 100


# write_file


async def test_write_then_read_back(ws: WorkspaceExecutor, root: Path) -> None:
    result = await ws.run(WriteFileArgs(path="src/a.md", content="# héllo\n", create_dirs=True))

    assert result == "wrote 9 bytes to src/a.md"
    assert (root / "src" / "a.md").read_text(encoding="utf-8") == "# héllo\n"
    assert await ws.run(ReadFileArgs(path="src/a.md")) == "# héllo\n"
    assert sorted(p.name for p in (root / "src").iterdir()) == ["a.md"]  # no temp file left


async def test_write_overwrites_and_keeps_the_mode(ws: WorkspaceExecutor, root: Path) -> None:
    script = write(root / "run.sh", "old")
    script.chmod(0o750)

    await ws.run(WriteFileArgs(path="run.sh", content="new"))

    assert script.read_text(encoding="utf-8") == "new"
    assert script.stat().st_mode & 0o777 == 0o750


async def test_write_without_create_dirs_needs_the_parent(
    ws: WorkspaceExecutor, root: Path
) -> None:
    with pytest.raises(ToolFailed, match="create_dirs"):
        await ws.run(WriteFileArgs(path="missing/a.txt", content="x"))
    assert not (root / "missing").exists()


async def test_write_refuses_a_directory(ws: WorkspaceExecutor, root: Path) -> None:
    (root / "dir").mkdir()
    with pytest.raises(ToolFailed, match="is a directory"):
        await ws.run(WriteFileArgs(path="dir", content="x"))


async def test_write_with_backup_keeps_the_old_content(ws: WorkspaceExecutor, root: Path) -> None:
    write(root / "a.txt", "old")

    await ws.run(WriteFileArgs(path="a.txt", content="new", backup=True))

    assert (root / "a.txt").read_text(encoding="utf-8") == "new"
    assert (root / "a.txt.bak").read_text(encoding="utf-8") == "old"


async def test_backup_of_a_new_file_writes_no_bak(ws: WorkspaceExecutor, root: Path) -> None:
    await ws.run(WriteFileArgs(path="a.txt", content="new", backup=True))
    assert not (root / "a.txt.bak").exists()


async def test_write_refuses_content_that_is_not_unicode(ws: WorkspaceExecutor) -> None:
    with pytest.raises(ToolFailed, match="not valid Unicode"):
        await ws.run(WriteFileArgs(path="a.txt", content="\ud800"))


# list_files


@pytest.fixture
def tree(root: Path) -> Path:
    write(root / "README.md", "")
    write(root / "src" / "main.py", "")
    write(root / "src" / "util.py", "")
    write(root / "src" / "data.json", "")
    write(root / "src" / "pkg" / "deep.py", "")
    write(root / ".env", "")
    write(root / ".git" / "HEAD", "")
    return root


async def test_list_one_directory(ws: WorkspaceExecutor, tree: Path) -> None:
    assert await ws.run(ListFilesArgs()) == "README.md\nsrc/"
    assert await ws.run(ListFilesArgs(path="src")) == (
        "src/data.json\nsrc/main.py\nsrc/pkg/\nsrc/util.py"
    )


async def test_list_recursive(ws: WorkspaceExecutor, tree: Path) -> None:
    assert (await ws.run(ListFilesArgs(recursive=True))).splitlines() == [
        "README.md",
        "src/",
        "src/data.json",
        "src/main.py",
        "src/pkg/",
        "src/pkg/deep.py",
        "src/util.py",
    ]


async def test_list_hidden(ws: WorkspaceExecutor, tree: Path) -> None:
    assert (await ws.run(ListFilesArgs(include_hidden=True))).splitlines() == [
        ".env",
        ".git/",
        "README.md",
        "src/",
    ]
    listing = await ws.run(ListFilesArgs(recursive=True, include_hidden=True))
    assert ".git/HEAD" in listing.splitlines()


async def test_list_pattern(ws: WorkspaceExecutor, tree: Path) -> None:
    listing = await ws.run(ListFilesArgs(recursive=True, pattern="*.py"))
    assert listing.splitlines() == ["src/main.py", "src/pkg/deep.py", "src/util.py"]
    assert await ws.run(ListFilesArgs(pattern="*.rs")) == "no entries"


async def test_list_is_capped(ws: WorkspaceExecutor, root: Path) -> None:
    for n in range(1005):
        (root / f"f{n:04}").touch()

    lines = (await ws.run(ListFilesArgs())).splitlines()

    assert len(lines) == 1001
    assert lines[0] == "f0000"
    assert "truncated at 1000 entries" in lines[-1]


async def test_list_failures(ws: WorkspaceExecutor, tree: Path) -> None:
    with pytest.raises(ToolFailed, match="not a directory"):
        await ws.run(ListFilesArgs(path="README.md"))
    with pytest.raises(ToolFailed, match="not a directory"):
        await ws.run(ListFilesArgs(path="nope"))


# create_directory


async def test_create_directory(ws: WorkspaceExecutor, root: Path) -> None:
    assert await ws.run(CreateDirectoryArgs(path="a/b/c")) == "created directory a/b/c"
    assert (root / "a" / "b" / "c").is_dir()
    await ws.run(CreateDirectoryArgs(path="a/b/c"))  # already there: fine
    await ws.run(CreateDirectoryArgs(path="a/d", recursive=False))
    assert (root / "a" / "d").is_dir()


async def test_create_directory_failures(ws: WorkspaceExecutor, root: Path) -> None:
    write(root / "file", "x")
    with pytest.raises(ToolFailed, match="set recursive"):
        await ws.run(CreateDirectoryArgs(path="x/y", recursive=False))
    with pytest.raises(ToolFailed, match="file"):
        await ws.run(CreateDirectoryArgs(path="file"))
    with pytest.raises(ToolFailed, match="file/sub"):
        await ws.run(CreateDirectoryArgs(path="file/sub"))


# search_in_code


@pytest.fixture
def code(root: Path) -> Path:
    write(root / "src" / "a.py", "def Hello():\n    return 'hello world'\n")
    write(root / "src" / "b.txt", "HELLO THERE\n")
    write(root / "src" / ".secret.py", "hello hidden\n")
    write(root / ".hidden" / "c.py", "hello in hidden dir\n")
    write(root / "src" / "blob.bin", b"hello\x00\xff")
    write(root / "big.txt", "hello\n" + "x" * (1024 * 1024))
    return root


async def test_search_substring_ignores_case_and_hidden_files(
    ws: WorkspaceExecutor, code: Path
) -> None:
    assert (await ws.run(SearchInCodeArgs(query="hello"))).splitlines() == [
        "src/a.py:1: def Hello():",
        "src/a.py:2: return 'hello world'",
        "src/b.txt:1: HELLO THERE",
    ]


async def test_search_case_sensitive(ws: WorkspaceExecutor, code: Path) -> None:
    result = await ws.run(SearchInCodeArgs(query="hello", case_sensitive=True))
    assert result == "src/a.py:2: return 'hello world'"


async def test_search_regex(ws: WorkspaceExecutor, code: Path) -> None:
    result = await ws.run(SearchInCodeArgs(query=r"^def \w+\(", regex=True))
    assert result == "src/a.py:1: def Hello():"
    result = await ws.run(SearchInCodeArgs(query=r"h.llo t", regex=True, case_sensitive=True))
    assert result == "no matches"
    with pytest.raises(ToolFailed, match="invalid regular expression"):
        await ws.run(SearchInCodeArgs(query="(", regex=True))


async def test_search_file_pattern_and_path(ws: WorkspaceExecutor, code: Path) -> None:
    result = await ws.run(SearchInCodeArgs(query="hello", file_pattern="*.txt"))
    assert result == "src/b.txt:1: HELLO THERE"
    result = await ws.run(SearchInCodeArgs(query="hello", path=".hidden"))
    assert result == ".hidden/c.py:1: hello in hidden dir"  # named explicitly
    result = await ws.run(SearchInCodeArgs(query="hello", path="src/.secret.py"))
    assert result == "src/.secret.py:1: hello hidden"
    with pytest.raises(ToolFailed, match="nope does not exist"):
        await ws.run(SearchInCodeArgs(query="hello", path="nope"))


async def test_search_max_results(ws: WorkspaceExecutor, code: Path) -> None:
    lines = (await ws.run(SearchInCodeArgs(query="hello", max_results=2))).splitlines()
    assert lines == ["src/a.py:1: def Hello():", "src/a.py:2: return 'hello world'"] + [
        "[stopped at 2 results]"
    ]


async def test_search_without_matches(ws: WorkspaceExecutor, code: Path) -> None:
    assert await ws.run(SearchInCodeArgs(query="goodbye")) == "no matches"


# execute_command


async def test_execute_returns_exit_code_and_output(ws: WorkspaceExecutor) -> None:
    assert await ws.run(ExecuteCommandArgs(command="echo 'hello world'")) == (
        "exit code 0\nhello world\n"
    )
    result = await ws.run(ExecuteCommandArgs(command="sh -c 'echo oops >&2; exit 3'"))
    assert result == "exit code 3\noops\n"  # non-zero is not a failure; stderr is merged


async def test_execute_runs_in_root_or_cwd(ws: WorkspaceExecutor, root: Path) -> None:
    (root / "sub").mkdir()
    real = ws.root
    assert await ws.run(ExecuteCommandArgs(command="pwd")) == f"exit code 0\n{real}\n"
    result = await ws.run(ExecuteCommandArgs(command="pwd", cwd="sub"))
    assert result == f"exit code 0\n{real / 'sub'}\n"
    with pytest.raises(ToolFailed, match="not a directory"):
        await ws.run(ExecuteCommandArgs(command="pwd", cwd="nope"))


async def test_execute_does_not_use_a_shell(ws: WorkspaceExecutor, root: Path) -> None:
    write(root / "x", "keep me")

    result = await ws.run(ExecuteCommandArgs(command="echo hi; rm -rf x && echo $HOME > y"))

    assert result == "exit code 0\nhi; rm -rf x && echo $HOME > y\n"
    assert (root / "x").exists()
    assert not (root / "y").exists()


async def test_execute_timeout_kills_the_command(ws: WorkspaceExecutor) -> None:
    with pytest.raises(ToolFailed, match=r"^command timed out after 1s$"):
        await ws.run(ExecuteCommandArgs(command="sleep 5", timeout=1))


async def test_execute_timeout_kills_the_children_too(ws: WorkspaceExecutor, root: Path) -> None:
    marker = f"{60 + secrets.randbelow(10**6) / 10**7:.7f}"  # names the child among all processes
    command = f"sh -c 'sleep {marker} & wait'"
    with pytest.raises(ToolFailed, match="timed out"):
        await ws.run(ExecuteCommandArgs(command=command, timeout=1))
    for _ in range(100):  # killed with its group; it may linger as a zombie if nobody reaps it
        if not running_with(marker):
            break
        await asyncio.sleep(0.05)
    assert not running_with(marker)


def running_with(argument: str) -> bool:
    """A live (not zombie) process of this machine has `argument` on its command line."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text(encoding="utf-8")
        except (FileNotFoundError, ProcessLookupError, NotADirectoryError, PermissionError):
            continue
        if argument.encode() in argv and stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
            return True
    return False


async def test_execute_failures(ws: WorkspaceExecutor) -> None:
    with pytest.raises(ToolFailed, match="program not found: no-such-program-xyz"):
        await ws.run(ExecuteCommandArgs(command="no-such-program-xyz --help"))
    with pytest.raises(ToolFailed, match="empty command"):
        await ws.run(ExecuteCommandArgs(command="   "))
    with pytest.raises(ToolFailed, match="cannot parse command"):
        await ws.run(ExecuteCommandArgs(command="echo 'unclosed"))


async def test_execute_output_is_capped(root: Path) -> None:
    ws = WorkspaceExecutor(root, max_output_bytes=100, sandbox=sandbox("bwrap"))

    result = await ws.run(ExecuteCommandArgs(command="seq 1 100000"))

    assert result.startswith("exit code 0\n1\n2\n3\n")
    assert result.endswith("\n[truncated]")
    assert len(result) < 150


# escapes


@pytest.fixture
def outside(tmp_path: Path, root: Path) -> Iterator[Path]:
    """Files beside the workspace, symlinks to them inside it; asserts they are never changed."""
    write(tmp_path / "outside.txt", "secret outside\n")
    write(tmp_path / "secret" / "secret.txt", "secret in dir\n")
    (root / "a").mkdir()
    (root / "escape.txt").symlink_to(tmp_path / "outside.txt")
    (root / "link").symlink_to(tmp_path / "secret", target_is_directory=True)
    (root / "dangling.txt").symlink_to(tmp_path / "created.txt")
    before = snapshot(tmp_path, root)
    yield tmp_path
    assert snapshot(tmp_path, root) == before


def snapshot(tmp_path: Path, root: Path) -> dict[str, bytes | None]:
    return {
        str(path.relative_to(tmp_path)): path.read_bytes() if path.is_file() else None
        for path in tmp_path.rglob("*")
        if not path.is_relative_to(root)
    }


ESCAPES = [
    "../outside.txt",
    "a/../../outside.txt",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "C:/x",
    "\\\\server\\share",
    "escape.txt",
    "link",
    "link/secret.txt",
    "link/new/deeper.txt",
    "dangling.txt",
    "a\x00b",
    "..",
]

# Built without validation: the executor must refuse these paths even when parsing did not.
TOOLS: dict[str, Callable[[str], ToolArgs]] = {
    "read_file": lambda p: ReadFileArgs.model_construct(path=p),
    "write_file": lambda p: WriteFileArgs.model_construct(
        path=p, content="pwned", create_dirs=True
    ),
    "write_backup": lambda p: WriteFileArgs.model_construct(path=p, content="pwned", backup=True),
    "list_files": lambda p: ListFilesArgs.model_construct(path=p, recursive=True),
    "create_directory": lambda p: CreateDirectoryArgs.model_construct(path=p),
    "execute_command": lambda p: ExecuteCommandArgs.model_construct(command="touch pwned", cwd=p),
    "search_in_code": lambda p: SearchInCodeArgs.model_construct(query="secret", path=p),
}


@pytest.mark.parametrize("path", ESCAPES)
@pytest.mark.parametrize("tool", TOOLS)
async def test_every_path_outside_the_workspace_is_refused(
    ws: WorkspaceExecutor, outside: Path, tool: str, path: str
) -> None:
    with pytest.raises(ToolFailed, match="outside the workspace|absolute|NUL byte|symlink"):
        args = TOOLS[tool](path)
        ws.check(args)  # before approval
    with pytest.raises(ToolFailed, match="outside the workspace|absolute|NUL byte|symlink"):
        await ws.run(args)
    assert not (outside / "created.txt").exists()


@pytest.mark.parametrize(
    "path", ["../outside.txt", "a/../../x", "/etc/passwd", "C:\\Windows\\win.ini", "C:x",
             "\\\\server\\share", "a\x00b", "..", "a\\..\\..\\x"],
)  # fmt: skip
def test_a_path_that_cannot_be_in_the_workspace_is_refused_when_parsed(path: str) -> None:
    with pytest.raises(ValueError, match="outside the workspace|absolute|NUL byte"):
        WriteFileArgs(path=path, content="x")
    with pytest.raises(ValueError, match="outside the workspace|absolute|NUL byte"):
        ExecuteCommandArgs(command="ls", cwd=path)


async def test_walks_do_not_follow_symlinks_out(ws: WorkspaceExecutor, outside: Path) -> None:
    assert await ws.run(SearchInCodeArgs(query="secret")) == "no matches"
    listing = (await ws.run(ListFilesArgs(recursive=True))).splitlines()
    assert listing == ["a/", "dangling.txt", "escape.txt", "link/"]  # named, not entered


async def test_backup_replaces_a_bak_symlink_instead_of_following_it(
    ws: WorkspaceExecutor, root: Path, outside: Path
) -> None:
    write(root / "a.txt", "old")
    (root / "a.txt.bak").symlink_to(outside / "outside.txt")

    await ws.run(WriteFileArgs(path="a.txt", content="new", backup=True))

    assert not (root / "a.txt.bak").is_symlink()
    assert (root / "a.txt.bak").read_text(encoding="utf-8") == "old"


async def test_symlinks_inside_the_workspace_are_read_but_never_written_through(
    ws: WorkspaceExecutor, root: Path
) -> None:
    write(root / "real" / "a.txt", "inside")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "notes.md").symlink_to(root / "real" / "a.txt")

    assert await ws.run(ReadFileArgs(path="alias/a.txt")) == "inside"
    # The file policy judges the name the model gave (notes.md is Markdown, a.txt is not).
    for path in ("alias/a.txt", "notes.md"):
        with pytest.raises(ToolFailed, match="through a symlink"):
            await ws.run(WriteFileArgs(path=path, content="changed"))
    with pytest.raises(ToolFailed, match="through a symlink"):
        await ws.run(CreateDirectoryArgs(path="alias/sub"))
    assert (root / "real" / "a.txt").read_text(encoding="utf-8") == "inside"
    assert (root / "alias").is_symlink()


def test_resolve_returns_the_real_path(ws: WorkspaceExecutor, root: Path) -> None:
    assert ws.resolve("a/../b/./c.txt") == root.resolve() / "b" / "c.txt"
    assert ws.resolve(".") == root.resolve()


async def test_a_huge_single_line_is_read_with_bounded_memory(root: Path) -> None:
    ws = WorkspaceExecutor(root, max_output_bytes=64 * 1024)
    write(root / "minified.js", "x" * (20 * 1024 * 1024))  # one 20 MB line
    tracemalloc.start()
    try:
        result = await ws.run(ReadFileArgs(path="minified.js"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.startswith("x" * 1000) and "start_line/end_line" in result
    assert peak < 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a capped read"


async def test_lines_are_counted_the_same_when_a_crlf_falls_between_two_pieces(
    root: Path,
) -> None:
    ws = WorkspaceExecutor(root, max_output_bytes=1024 * 1024)
    first = "a" * (64 * 1024 - 1) + "\r\n"  # the \r is the last character of a piece
    write(root / "crlf.txt", (first + "second\r\n").encode())
    assert await ws.run(ReadFileArgs(path="crlf.txt", start_line=2)) == "second\r\n"
    assert await ws.run(ReadFileArgs(path="crlf.txt", end_line=1)) == first
    with pytest.raises(ToolFailed, match="has only 2 lines"):
        await ws.run(ReadFileArgs(path="crlf.txt", start_line=3))
