"""`agent-hub chat` against a real hub: under a pseudo-terminal, answered by keystrokes as a
person would, and with `--plain` through pipes."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import API_KEY, routed
from tests.hub_process import HubProcess, unattended_hub
from tests.scripted_llm import ScriptedLLM, Text, ToolCalls

ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r")


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path, llm.base_url).start()
    yield process
    process.stop()


class Pty:
    """A program on a pseudo-terminal: what it shows, and keys typed into it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.seen = b""

    def expect(self, text: str, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while text.encode() not in ESCAPES.sub(b"", self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never showed {text!r}; it showed:\n{self.screen()}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:  # the program closed the terminal
                    raise AssertionError(f"exited before {text!r}:\n{self.screen()}") from None

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def screen(self) -> str:
        return ESCAPES.sub(b"", self.seen).decode(errors="replace")

    def close(self) -> int:
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"did not exit; it showed:\n{self.screen()}") from None
        finally:
            os.close(self.master)
        return code


def chat_argv(hub: HubProcess, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hub.cli", "chat", "--url", hub.http_url, "--token", API_KEY,
            *extra]  # fmt: skip


async def plain_chat(hub: HubProcess, session: str, typed: bytes) -> str:
    """What `chat --plain` printed for these lines of input; it must end by itself at EOF."""
    process = await asyncio.create_subprocess_exec(
        *chat_argv(hub, "--session", session, "--plain"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(typed), 30)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def test_a_person_approves_a_write_with_a_keystroke(
    hub: HubProcess, llm: ScriptedLLM, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    write = ToolCalls([("k-1", "write_file", {"path": "notes.md", "content": "hello\n"})])
    llm.push(routed(), write, Text(["Done, ", "saved."]))
    env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "100"}
    argv = chat_argv(hub, "--session", "tty", "--workspace", str(workspace))
    term = await asyncio.to_thread(Pty, argv, env)
    try:
        await asyncio.to_thread(term.expect, "session tty, agent orchestrator\n>")
        term.type("write notes\r")
        await asyncio.to_thread(term.expect, "write_file")
        await asyncio.to_thread(term.expect, "a[l]ways allow, [n]ever allow?")
        assert not (workspace / "notes.md").exists()
        term.type("a\r")
        await asyncio.to_thread(term.expect, "Done, saved.\n")
        answer, session = llm.reported[-1], sum(r["total_tokens"] for r in llm.reported)
        used = f"{answer['total_tokens']:,} tokens · session {session:,}\n>"  # the prompt is back
        await asyncio.to_thread(term.expect, used)
        term.type("\x04")  # Ctrl-D leaves
    finally:
        code = await asyncio.to_thread(term.close)
    assert code == 0, term.screen()
    assert (workspace / "notes.md").read_text() == "hello\n"
    assert "→ coder" in term.screen() and "write_file" in term.screen()


async def test_plain_mode_reads_lines_and_a_rejection_carries_feedback(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    command = ToolCalls([("k-2", "execute_command", {"command": "rm -rf /"})])
    llm.push(routed(), command, Text(["Understood."]))
    text = await plain_chat(hub, "piped", b"clean up\nr\nnever do that\n")
    assert "execute_command" in text and "Understood." in text
    assert "\x1b[" not in text  # plain: no terminal codes
    rejected = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert "never do that" in rejected[-1]["content"]


async def test_a_question_from_the_agent_is_answered_at_the_prompt(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    ask = ToolCalls([("q-1", "ask_followup_question", {"question": "Which file?"})])
    llm.push(routed(), ask, Text(["Opening ", "b.py."]))
    text = await plain_chat(hub, "asked", b"open the file\nb.py\n")
    assert "? Which file?" in text and "answer> " in text and "Opening b.py." in text
    told = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert told[-1]["content"] == "b.py"


async def test_checkpoints_are_listed_shown_and_restored_from_the_prompt(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "todo.md").write_text("- one\n")
    hub = unattended_hub(tmp_path, llm.base_url, workspace)
    try:
        write = ToolCalls([("t-1", "write_file", {"path": "todo.md", "content": "- two\n"})])
        llm.push(routed(), write, Text(["Rewritten."]))
        await plain_chat(hub, "cp", b"rewrite the list\n")
        assert (workspace / "todo.md").read_text() == "- two\n"
        listed = await plain_chat(hub, "cp", b"/checkpoints\n")
        (line,) = [x for x in listed.splitlines() if "write_file todo.md (call t-1)" in x]
        found = re.search(r"\b([0-9a-f]{12})  \d{4}-", line)
        assert found is not None, line
        checkpoint = found.group(1)
        shown = await plain_chat(hub, "cp", f"/diff {checkpoint}\n/restore {checkpoint}\n".encode())
        assert "-- one" in shown and "+- two" in shown
        assert "restored to before write_file todo.md (call t-1); undo: /restore " in shown
        assert (workspace / "todo.md").read_text() == "- one\n"
        helped = await plain_chat(hub, "cp", b"/nope\n/diff nothing\n")
        assert "unknown command /nope" in helped and "/restore ID" in helped
        assert "not_found: no checkpoint 'nothing'" in helped
    finally:
        hub.stop()
    assert len(llm.requests) == 3  # routing, the call, the answer: no command reached the model
