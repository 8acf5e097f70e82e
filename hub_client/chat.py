"""`agent-hub chat`: a hub session in the terminal.

Answers stream as they arrive; agent switches and tool calls are shown; approvals are asked
inline (approve / edit / reject with feedback / always); a question from the agent is answered
at the prompt; Ctrl-C stops the turn, Ctrl-D leaves; `/help` lists the client's own commands
(the hub workspace's checkpoints). With `--workspace DIR` the calls the hub sends to its IDE run
here, inside DIR. The connection resumes by itself when it drops.
Output goes through rich (colours, Markdown-safe) and input through prompt_toolkit (history,
editing); `--plain` (and any non-terminal stdin) reads plain lines and prints plain text.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from hub import protocol as p
from hub_client.chat_commands import ChatCommands
from hub_client.connection import HubClient, is_user_token
from tools.registry import TOOLS, InvalidArguments, parse_arguments
from tools.workspace import ToolFailed, WorkspaceExecutor

CHOICES = "[a]pprove, [e]dit, [r]eject, a[l]ways allow, [n]ever allow"


class Terminal:
    """Lines in, text out: prompt_toolkit and rich on a terminal, plain lines otherwise."""

    def __init__(self, plain: bool) -> None:
        self.plain = plain or not sys.stdin.isatty()
        self.console = Console(highlight=False, no_color=self.plain, soft_wrap=True)
        self._session: Any = None
        if not self.plain:
            from prompt_toolkit import PromptSession

            self._session = PromptSession()

    async def ask(self, prompt: str) -> str | None:
        """A line from the user; None at end of input (Ctrl-D)."""
        if self._session is not None:
            try:
                return str(await self._session.prompt_async(prompt))
            except EOFError:
                return None
        self.console.print(prompt, end="")
        line = await asyncio.to_thread(sys.stdin.readline)
        return line.rstrip("\n") if line else None

    def show(self, markup: str, end: str = "\n") -> None:
        self.console.print(markup, end=end)

    def text(self, token: str) -> None:
        self.console.print(escape(token), end="")


class Chat:
    def __init__(
        self,
        hub: HubClient,
        terminal: Terminal,
        workspace: Path | None,
        commands: ChatCommands | None = None,
    ) -> None:
        self.hub = hub
        self.term = terminal
        self.commands = commands
        self.workspace = WorkspaceExecutor(workspace) if workspace is not None else None
        self.question: str | None = None
        self._started = False  # the run of the message just sent has begun
        self._answering = False
        self._cancelling: asyncio.Task[None] | None = None

    async def run(self) -> int:
        frames = self.hub.frames()
        ready = await anext(frames)
        if isinstance(ready, p.SessionReady):
            agent = ready.current_agent
            self.term.show(f"[dim]session {self.hub.session_id}, agent {agent}[/dim]")
        loop = asyncio.get_running_loop()
        while (line := await self.term.ask("answer> " if self.question else "> ")) is not None:
            if not line.strip():
                continue
            if self.commands is not None and ChatCommands.is_command(line):
                await self.commands.run(line)
                continue
            line = line.removeprefix("/") if line.startswith("//") else line
            # An answer to a question goes on with the turn that asked it (a continuation).
            self._answering, self._started = self.question is not None, False
            self.question = None
            await self.hub.send_message(line)
            # Ctrl-C while a turn runs stops the turn, not the client.
            loop.add_signal_handler(signal.SIGINT, self._stop_turn)
            try:
                await self._turn(frames)
            finally:
                loop.remove_signal_handler(signal.SIGINT)
        return 0

    def _stop_turn(self) -> None:
        task = asyncio.get_running_loop().create_task(self.hub.cancel())
        self._cancelling = task  # keep a reference until it is done

    async def _turn(self, frames: AsyncIterator[p.HubFrame]) -> None:
        """Show the frames of the turn until it ends (or waits for the user's answer)."""
        async for frame in frames:
            if await self._show(frame):
                return

    async def _show(self, frame: p.HubFrame) -> bool:
        """True when the turn is over for now."""
        match frame:
            case p.AssistantMessage(token=token, is_final=final):
                self.term.text(token)
                if final:
                    self.term.show("")
            case p.AgentSwitched(to_agent=to_agent, reason=reason):
                self.term.show(f"[dim]→ {to_agent}: {escape(reason or '')}[/dim]")
            case p.ToolCall(requires_approval=True) as call:
                await self._approve(call)
            case p.ToolCall() as call:
                await self._run_here(call)
            case p.ToolFinished(tool_name=name, status=status, content=content):
                colour = "green" if status == "done" else "red"
                self.term.show(f"[{colour}]{name} {status}[/{colour}] {escape(content[:200])}")
            case p.FollowupQuestion(question=question, options=options):
                self.question = question
                choices = f" ({' / '.join(options)})" if options else ""
                self.term.show(f"[bold]? {escape(question)}{escape(choices)}[/bold]")
                return True
            case p.Error(code=code, content=content):
                self.term.show(f"[red]error {code}: {escape(content)}[/red]")
            case p.UsageReport(scope="run") as usage:
                self.term.show(f"[dim]{usage_line(usage)}[/dim]")
            case p.RunStarted(kind=kind) if kind == "message" or self._answering:
                self._started = True
            case p.RunFinished(reason=reason) if reason != "waiting" and self._started:
                if reason == "cancelled":
                    self.term.show("[yellow]cancelled[/yellow]")
                return True
        return False

    async def _approve(self, call: p.ToolCall) -> None:
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        self.term.show(f"[bold yellow]{call.tool_name}[/bold yellow] {escape(arguments)}")
        if call.diff:
            self.term.show(escape(call.diff))
        while True:
            answer = ((await self.term.ask(f"{CHOICES}? ")) or "r").strip().lower()[:1]
            if answer in ("a", "l"):
                await self.hub.approve(call.call_id, always=answer == "l")
                await self._run_here(call)  # approved in-band: this client runs it
                return
            if answer in ("r", "n"):
                feedback = await self.term.ask("feedback for the agent (optional)> ")
                await self.hub.reject(call.call_id, feedback or None, always=answer == "n")
                return
            if answer == "e":
                edited = await self._edited(call)
                if edited is not None:
                    await self.hub.edit(call.call_id, edited)
                    await self._run_here(call.model_copy(update={"arguments": edited}))
                    return

    async def _edited(self, call: p.ToolCall) -> dict[str, Any] | None:
        raw = await self.term.ask("arguments as JSON> ")
        try:
            edited = json.loads(raw or "")
        except json.JSONDecodeError as exc:
            self.term.show(f"[red]not JSON: {exc}[/red]")
            return None
        if not isinstance(edited, dict):
            self.term.show("[red]the arguments must be a JSON object[/red]")
            return None
        return {**call.arguments, **edited}

    async def _run_here(self, call: p.ToolCall) -> None:
        if self.workspace is None:
            why = "this terminal client has no --workspace to run tools in"
            await self.hub.tool_result(call.call_id, error=why)
            return
        try:
            args = parse_arguments(TOOLS[call.tool_name], call.arguments)
            result = await self.workspace.run(args)
        except (KeyError, InvalidArguments, ToolFailed) as exc:
            await self.hub.tool_result(call.call_id, error=str(exc))
        else:
            await self.hub.tool_result(call.call_id, result=result)


async def chat(
    url: str,
    session_id: str,
    token: str,
    workspace: Path | None,
    plain: bool,
) -> int:
    key, user_token = (None, token) if is_user_token(token) else (token, None)
    headers = {"Authorization": f"Bearer {token}"} if user_token else {"X-Internal-Auth": token}
    base = url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    terminal = Terminal(plain)
    async with (
        HubClient(url, session_id, key=key, token=user_token) as hub,
        httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as rest,
    ):
        commands = ChatCommands(rest, session_id, terminal.show)
        return await Chat(hub, terminal, workspace, commands).run()


def usage_line(usage: p.UsageReport) -> str:
    """The run's tokens and the session's, as a dim line after the answer."""
    run = "tokens not reported" if usage.total_tokens is None else f"{usage.total_tokens:,} tokens"
    total = usage.session.total_tokens
    session = "unknown" if total is None else f"{total:,}"
    cost = "" if usage.session.cost_usd is None else f", ${usage.session.cost_usd:.4f}"
    return f"{run} · session {session}{cost}"
