"""`agent-hub acp` driven by the ACP SDK's own client side, against a real hub process and the
scripted model: the bridge is spawned over stdio exactly as an editor spawns it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import acp
import pytest
from acp.core import ClientSideConnection
from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AllowedOutcome,
    ClientCapabilities,
    CreateTerminalResponse,
    CurrentModeUpdate,
    EnvVariable,
    FileSystemCapabilities,
    McpServerStdio,
    PermissionOption,
    ReadTextFileResponse,
    ReleaseTerminalResponse,
    RequestPermissionResponse,
    TerminalOutputResponse,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
    UsageUpdate,
    UserMessageChunk,
    WaitForTerminalExitResponse,
    WriteTextFileResponse,
)

from tests.conftest import API_KEY, routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Hang, ScriptedLLM, Text, ToolCalls

ROOT = Path(__file__).resolve().parent.parent


class Editor:
    """The editor's side: files in a folder, terminals as subprocesses, scripted answers to
    permission requests, and every update it was sent."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.updates: list[Any] = []
        self.answers: list[str] = []  # option ids, in the order requests come
        self.asked: list[ToolCallUpdate] = []
        self.terminals: dict[str, tuple[int, str]] = {}
        self.streaming = asyncio.Event()

    async def request_permission(
        self, session_id: str, tool_call: ToolCallUpdate, options: list[PermissionOption],
        **kwargs: Any,
    ) -> RequestPermissionResponse:  # fmt: skip
        self.asked.append(tool_call)
        chosen = self.answers.pop(0)
        assert chosen in {o.option_id for o in options}
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=chosen)
        )

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(update)
        if isinstance(update, AgentMessageChunk):
            self.streaming.set()

    async def read_text_file(
        self, session_id: str, path: str, line: int | None = None, limit: int | None = None,
        **kwargs: Any,
    ) -> ReadTextFileResponse:  # fmt: skip
        if (text := self._file(path).read()) is None:
            raise acp.RequestError.resource_not_found(path)
        return ReadTextFileResponse(content=text)

    async def write_text_file(
        self, session_id: str, path: str, content: str, **kwargs: Any
    ) -> WriteTextFileResponse:
        self._file(path).write(content)
        return WriteTextFileResponse()

    def _file(self, path: str) -> EditorFile:
        assert Path(path).is_relative_to(self.root), path  # the bridge keeps to the session's cwd
        return EditorFile(Path(path))

    async def create_terminal(
        self, session_id: str, command: str, args: list[str] | None = None, cwd: str | None = None,
        **kwargs: Any,
    ) -> CreateTerminalResponse:  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            command, *(args or []), cwd=cwd, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        terminal_id = f"t{len(self.terminals)}"
        self.terminals[terminal_id] = (process.returncode or 0, output.decode())
        return CreateTerminalResponse(terminal_id=terminal_id)

    async def wait_for_terminal_exit(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> WaitForTerminalExitResponse:
        return WaitForTerminalExitResponse(exit_code=self.terminals[terminal_id][0])

    async def terminal_output(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> TerminalOutputResponse:
        return TerminalOutputResponse(output=self.terminals[terminal_id][1], truncated=False)

    async def release_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> ReleaseTerminalResponse:
        return ReleaseTerminalResponse()

    def text(self) -> str:
        return "".join(u.content.text for u in self.updates if isinstance(u, AgentMessageChunk))

    def of(self, kind: type) -> list[Any]:
        return [u for u in self.updates if isinstance(u, kind)]


class EditorFile:
    """A file as the editor's buffers hold it (small: read and written at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> str | None:
        return self.path.read_text() if self.path.exists() else None

    def write(self, text: str) -> None:
        self.path.write_text(text)


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    # A window the hub is told of, so the bridge can say how full it is (usage_update).
    process = HubProcess(tmp_path, llm.base_url, AGENT_RUNTIME__LLM_CONTEXT_TOKENS=CONTEXT).start()
    yield process
    process.stop()


CONTEXT = "8192"


@asynccontextmanager
async def bridge(hub: HubProcess, editor: Editor) -> AsyncIterator[ClientSideConnection]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    async with acp.spawn_agent_process(
        editor, sys.executable, "-m", "hub.cli", "acp", "--url", hub.http_url, "--token", API_KEY,
        env=env, transport_kwargs={"stderr": None},
    ) as (conn, _process):  # fmt: skip
        await conn.initialize(
            protocol_version=acp.PROTOCOL_VERSION,
            client_capabilities=ClientCapabilities(
                fs=FileSystemCapabilities(read_text_file=True, write_text_file=True), terminal=True
            ),
        )
        yield conn


def prompt(text: str) -> list[Any]:
    return [acp.text_block(text)]


async def test_a_prompt_streams_switches_mode_and_reads_a_file_in_the_editor(
    hub: HubProcess, llm: ScriptedLLM, tmp_path: Path
) -> None:
    (tmp_path / "main.py").write_text("print('hi')\n")
    editor = Editor(tmp_path)
    read = ToolCalls([("r-1", "read_file", {"path": "main.py"})])
    llm.push(routed("coder", "code"), read, Text(["It prints ", "hi."]))
    async with bridge(hub, editor) as conn:
        session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
        assert session.modes is not None and session.modes.current_mode_id == "orchestrator"
        assert {m.id for m in session.modes.available_modes} == {
            "orchestrator", "coder", "architect", "debug", "ask"
        }  # fmt: skip
        done = await conn.prompt(session_id=session.session_id, prompt=prompt("what does it do?"))
    assert done.stop_reason == "end_turn"
    assert editor.text() == "It prints hi."
    assert [u.current_mode_id for u in editor.of(CurrentModeUpdate)] == ["coder"]
    (started,) = editor.of(ToolCallStart)
    assert (started.tool_call_id, started.kind, started.title) == (
        "r-1",
        "read",
        "read_file main.py",
    )
    finished = [u for u in editor.of(ToolCallProgress) if u.status == "completed"]
    assert finished and "print('hi')" in finished[-1].content[0].content.text
    told = llm.requests[-1]["messages"][-1]  # the model read the editor's file
    assert told["role"] == "tool" and told["content"] == "print('hi')\n"

    reported = llm.reported  # routing, the call asking to read, the answer
    assert len(reported) == 3 and done.usage is not None
    assert done.usage.input_tokens == sum(r["prompt_tokens"] for r in reported)
    assert done.usage.output_tokens == sum(r["completion_tokens"] for r in reported)
    assert done.usage.total_tokens == sum(r["total_tokens"] for r in reported)
    context = editor.of(UsageUpdate)
    assert [u.used for u in context] == [r["total_tokens"] for r in reported]
    assert {u.size for u in context} == {int(CONTEXT)}


async def test_permissions_allow_always_and_reject_and_a_command_in_a_terminal(
    hub: HubProcess, llm: ScriptedLLM, tmp_path: Path
) -> None:
    editor = Editor(tmp_path)
    write = ToolCalls([("w-1", "write_file", {"path": "notes.md", "content": "one\n"})])
    again = ToolCalls([("w-2", "write_file", {"path": "notes.md", "content": "two\n"})])
    command = ToolCalls([("c-1", "execute_command", {"command": "echo from-the-editor"})])
    llm.push(routed("coder", "code"), write, again, Text(["written"]))
    editor.answers = ["allow_always"]  # the second write is allowed by the rule
    async with bridge(hub, editor) as conn:
        session_id = (await conn.new_session(cwd=str(tmp_path), mcp_servers=[])).session_id
        first = await conn.prompt(session_id=session_id, prompt=prompt("write notes"))
        assert first.stop_reason == "end_turn"
        assert (tmp_path / "notes.md").read_text() == "two\n"
        assert [c.tool_call_id for c in editor.asked] == ["w-1"]
        diff = editor.of(ToolCallStart)[0].content[0]
        assert (diff.type, diff.new_text, diff.old_text) == ("diff", "one\n", None)

        editor.answers = ["reject_always", "allow_once"]
        nope = ToolCalls([("c-0", "execute_command", {"command": "rm -rf build"})])
        nope_again = ToolCalls([("c-2", "execute_command", {"command": "rm -rf build"})])
        llm.push(nope, command, nope_again, Text(["ran it"]))
        second = await conn.prompt(session_id=session_id, prompt=prompt("clean and echo"))
    assert second.stop_reason == "end_turn"
    # The second `rm -rf build` was refused by the deny rule, without asking.
    assert [c.tool_call_id for c in editor.asked] == ["w-1", "c-0", "c-1"]
    rejected = [u for u in editor.of(ToolCallProgress) if u.tool_call_id == "c-0"]
    assert rejected[-1].status == "failed"
    results = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert "from-the-editor" in results[-2]["content"] and "exit code 0" in results[-2]["content"]
    assert "deny rule" in results[-1]["content"]


async def test_cancel_mode_switch_load_and_list(
    hub: HubProcess, llm: ScriptedLLM, tmp_path: Path
) -> None:
    editor = Editor(tmp_path)
    llm.push(routed("ask", "a question"), Hang(["thinking "]))
    async with bridge(hub, editor) as conn:
        session_id = (await conn.new_session(cwd=str(tmp_path), mcp_servers=[])).session_id
        turn = asyncio.create_task(conn.prompt(session_id=session_id, prompt=prompt("why?")))
        await asyncio.wait_for(editor.streaming.wait(), 10)
        await conn.cancel(session_id=session_id)
        assert (await asyncio.wait_for(turn, 10)).stop_reason == "cancelled"
        llm.release()
        await conn.set_session_mode(session_id=session_id, mode_id="architect")
        with pytest.raises(acp.RequestError):
            await conn.set_session_mode(session_id=session_id, mode_id="nope")
    assert [u.current_mode_id for u in editor.of(CurrentModeUpdate)][-1] == "architect"

    later = Editor(tmp_path)  # another editor window, another bridge process
    async with bridge(hub, later) as conn:
        listed = await conn.list_sessions(cwd=str(tmp_path))
        assert session_id in [s.session_id for s in listed.sessions]
        loaded = await conn.load_session(cwd=str(tmp_path), session_id=session_id, mcp_servers=[])
        assert loaded.modes is not None and loaded.modes.current_mode_id == "architect"
        with pytest.raises(acp.RequestError):
            await conn.load_session(cwd=str(tmp_path), session_id="no-such", mcp_servers=[])
    replayed = [(type(u), u.content.text) for u in later.updates]
    assert replayed == [(UserMessageChunk, "why?"), (AgentMessageChunk, "thinking ")]


async def test_the_bridge_carries_on_when_the_hub_restarts(
    hub: HubProcess, llm: ScriptedLLM, tmp_path: Path
) -> None:
    editor = Editor(tmp_path)
    llm.push(routed("ask", "a question"), Text(["before"]), Text(["after"]))
    async with bridge(hub, editor) as conn:
        session_id = (await conn.new_session(cwd=str(tmp_path), mcp_servers=[])).session_id
        await conn.prompt(session_id=session_id, prompt=prompt("one"))
        await asyncio.to_thread(hub.restart)  # the editor knows nothing of it
        again = await conn.prompt(session_id=session_id, prompt=prompt("two"))
    assert again.stop_reason == "end_turn"
    assert editor.text() == "beforeafter"


async def test_the_editors_mcp_servers_run_in_the_bridge_with_the_editors_permission(
    hub: HubProcess, llm: ScriptedLLM, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    server = McpServerStdio(
        name="my notes",  # not a valid server name: the bridge makes one of it
        command=sys.executable,
        args=["-m", "tests.mcp_server", "stdio"],
        env=[
            EnvVariable(name="MCP_NOTES", value=str(notes)),
            EnvVariable(name="PYTHONPATH", value=str(ROOT)),
        ],
    )
    calls = ToolCalls(
        [
            ("n-1", "ide_mcp__my-notes__write_note", {"text": "from the editor"}),
            ("n-2", "ide_mcp__my-notes__lookup", {"word": "acp"}),
            ("n-3", "ide_mcp__my-notes__write_note", {"text": "refused"}),
        ]
    )
    llm.push(routed("coder", "code"), calls, Text(["Noted."]))
    editor = Editor(tmp_path)
    editor.answers = ["allow_once", "reject_once"]
    async with bridge(hub, editor) as conn:
        session_id = (await conn.new_session(cwd=str(tmp_path), mcp_servers=[server])).session_id
        done = await conn.prompt(session_id=session_id, prompt=prompt("take a note"))
    assert done.stop_reason == "end_turn"
    assert notes.read_text() == "from the editor\n"
    # Only the calls with effects were put to the editor; the read-only lookup ran at once.
    assert [c.tool_call_id for c in editor.asked] == ["n-1", "n-3"]
    offered = {t["function"]["name"] for t in llm.requests[1]["tools"]}
    assert {"ide_mcp__my-notes__write_note", "ide_mcp__my-notes__lookup", "read_file"} <= offered
    results = {
        m["tool_call_id"]: m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "tool"
    }
    assert results["n-1"] == "noted 15 characters"
    assert results["n-2"].startswith("acp: a word of the test glossary")
    assert "rejected this call in the editor" in results["n-3"]


async def test_a_plan_is_approved_in_the_editor_and_its_progress_shown_as_acp_plan(
    hub: HubProcess, llm: ScriptedLLM, tmp_path: Path
) -> None:
    steps = [
        {"title": "Write it", "agent": "coder", "description": "Write hello.py."},
        {"title": "Explain it", "agent": "ask", "description": "Explain it."},
    ]
    route = {"agent": "coder", "confidence": 0.8, "reason": "several steps", "plan": True}
    llm.push(
        ToolCalls([("route-1", "route_to_agent", route)]),
        ToolCalls([("plan-a", "propose_plan", {"title": "Hello", "steps": steps})]),
        Text(["Wrote it."]),
        Text(["It says hello."]),
        Text(["Both steps are done."]),
    )
    editor = Editor(tmp_path)
    editor.answers = ["approve"]
    async with bridge(hub, editor) as conn:
        session_id = (await conn.new_session(cwd=str(tmp_path), mcp_servers=[])).session_id
        done = await conn.prompt(session_id=session_id, prompt=prompt("write and explain"))
    assert done.stop_reason == "end_turn"
    assert [c.title for c in editor.asked] == ["Plan: Hello"]
    assert editor.text().endswith("Both steps are done.")
    shown = [[(e.content, e.status) for e in u.entries] for u in editor.of(AgentPlanUpdate)]
    assert shown[0] == [("Write it (coder)", "pending"), ("Explain it (ask)", "pending")]
    assert [("Write it (coder)", "in_progress"), ("Explain it (ask)", "pending")] in shown
    assert shown[-1] == [("Write it (coder)", "completed"), ("Explain it (ask)", "completed")]
