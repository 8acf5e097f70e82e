"""`agent-hub acp`: an Agent Client Protocol agent over stdio, backed by a hub session.

An editor (Zed, a JetBrains IDE, Neovim, Emacs) launches it as its agent. Each ACP session is a
hub session opened as an IDE socket with `hub_client`: prompts are user messages, the hub's
frames become `session/update`s, approvals become `session/request_permission`, and the tool
calls the hub sends to its IDE run in the editor (`EditorTools`). The bridge keeps no state of
its own beyond the open sockets: history, approvals and resume live in the hub.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Literal, cast

import acp
import httpx
from acp.helpers import update_current_mode
from acp.interfaces import Client
from acp.schema import (
    AgentCapabilities,
    AllowedOutcome,
    ClientCapabilities,
    Implementation,
    ListSessionsResponse,
    LoadSessionResponse,
    McpCapabilities,
    NewSessionResponse,
    PromptCapabilities,
    PromptResponse,
    SessionCapabilities,
    SessionInfo,
    SessionListCapabilities,
    SessionMode,
    SessionModeState,
    SetSessionModeResponse,
    ToolCallUpdate,
    Usage,
)

from agents.definitions import AGENTS, DEFAULT_AGENT
from hub import protocol as p
from hub_client.acp import plans
from hub_client.acp.editor_mcp import EditorMcp, specs_of
from hub_client.acp.editor_tools import KINDS, PERMISSIONS, EditorTools, title
from hub_client.acp.usage import add_run, context_update
from hub_client.connection import HubClient, is_user_token
from tools.mcp import PREFIX as MOUNTED
from tools.mcp import McpCallFailed
from tools.workspace import ToolFailed

log = logging.getLogger(__name__)
ToolStatus = Literal["pending", "in_progress", "completed", "failed"]

VERSION = "0.1.0"
SWITCH_SECONDS = 10.0
MODES = [SessionMode(id=a.name, name=a.name, description=a.description) for a in AGENTS.values()]
StopReason = Literal["end_turn", "cancelled"]
STOP_REASONS: dict[str, StopReason] = {
    "completed": "end_turn",
    "cancelled": "cancelled",
    "error": "end_turn",  # the error itself was shown as a message
}


class HubSession:
    """One ACP session: the hub socket, and the turn a prompt waits for."""

    def __init__(
        self, hub: HubClient, tools: EditorTools, agent: str, mcp: EditorMcp | None = None
    ) -> None:
        self.hub = hub
        self.tools = tools
        self.mcp = mcp  # the MCP servers the editor passed, run here
        self.agent = agent
        self.turn_over: asyncio.Future[str] | None = None
        # The prompt's own run has started: a run of the turn before may still end after the
        # prompt was sent (a continuation with nothing left to do), and must not end this one.
        self.turn_started = False
        self.asked_question = False  # the turn before ended asking the user something
        self.switched: asyncio.Future[str] | None = None  # a mode change the editor asked for
        self.reader: asyncio.Task[None] | None = None
        self.asked: set[str] = set()  # approvals put to the editor, not yet decided
        self.turn_usage: Usage | None = None  # what the prompt's turn cost, as reported


class HubAgent:
    """An `acp.Agent`; the methods it does not have are answered "method not found"."""

    def __init__(self, url: str, token: str) -> None:
        self._url = url.rstrip("/")
        self._token = token if is_user_token(token) else None
        self._key = None if self._token else token
        headers = (
            {"Authorization": f"Bearer {token}"} if self._token else {"X-Internal-Auth": token}
        )
        self._http = httpx.AsyncClient(base_url=self._url, headers=headers, timeout=30)
        self._client: Client | None = None
        self._capabilities: ClientCapabilities | None = None
        self._sessions: dict[str, HubSession] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        """The editor went away: stop the MCP servers this bridge started, close the sockets."""
        for session in self._sessions.values():
            if session.mcp is not None:
                await session.mcp.aclose()
            await session.hub.close()
        await self._http.aclose()

    def on_connect(self, conn: Client) -> None:
        self._client = conn

    @property
    def client(self) -> Client:
        assert self._client is not None, "on_connect comes first"
        return self._client

    async def initialize(
        self,
        protocol_version: int,
        client_capabilities: ClientCapabilities | None = None,
        client_info: Implementation | None = None,
        **kwargs: Any,
    ) -> acp.InitializeResponse:
        self._capabilities = client_capabilities
        return acp.InitializeResponse(
            protocol_version=acp.PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(embedded_context=True),
                session_capabilities=SessionCapabilities(list=SessionListCapabilities()),
                mcp_capabilities=McpCapabilities(http=True, sse=False),
            ),
            agent_info=Implementation(name="agent-hub", title="agent hub", version=VERSION),
        )

    async def authenticate(self, method_id: str, **kwargs: Any) -> None:
        return None  # the credentials came with the command line or the environment

    # --- sessions ---------------------------------------------------------------------------

    async def new_session(
        self,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[Any] | None = None,
        **kwargs: Any,
    ) -> NewSessionResponse:
        session_id = f"acp-{uuid.uuid4().hex}"
        session = await self._open(session_id, cwd, mcp_servers)
        return NewSessionResponse(session_id=session_id, modes=_modes(session.agent))

    async def load_session(
        self,
        cwd: str,
        session_id: str,
        mcp_servers: list[Any] | None = None,
        additional_directories: list[str] | None = None,
        **kwargs: Any,
    ) -> LoadSessionResponse:
        history = await self._http.get(f"/sessions/{session_id}/history", params={"limit": 200})
        if history.status_code == 404:
            raise acp.RequestError.resource_not_found(session_id)
        history.raise_for_status()
        for message in history.json()["messages"]:
            if message["notice"] or not message["content"]:
                continue
            if message["role"] == "user":
                await self.client.session_update(
                    session_id, acp.update_user_message_text(message["content"])
                )
            elif message["role"] == "assistant":
                await self.client.session_update(
                    session_id, acp.update_agent_message_text(message["content"])
                )
        session = await self._open(session_id, cwd, mcp_servers)
        return LoadSessionResponse(modes=_modes(session.agent))

    async def list_sessions(
        self, cwd: str | None = None, cursor: str | None = None, **kwargs: Any
    ) -> ListSessionsResponse:
        params: dict[str, str | int] = {"limit": 100, **({"before": cursor} if cursor else {})}
        listed = (await self._http.get("/sessions", params=params)).raise_for_status().json()
        sessions = [
            SessionInfo(session_id=s["session_id"], cwd=cwd or "", updated_at=s["updated_at"])
            for s in listed["sessions"]
        ]
        return ListSessionsResponse(sessions=sessions, next_cursor=listed["next_before"])

    async def _open(
        self, session_id: str, cwd: str, mcp_servers: list[Any] | None = None
    ) -> HubSession:
        if (known := self._sessions.get(session_id)) is not None:
            return known
        hub = HubClient(self._url, session_id, key=self._key, token=self._token)
        await hub.connect()
        frames = hub.frames()
        ready = await anext(frames)
        agent = ready.current_agent if isinstance(ready, p.SessionReady) else DEFAULT_AGENT
        mcp = None
        if specs := specs_of(mcp_servers):
            mcp = EditorMcp(specs)
            await mcp.start()
        tools = EditorTools(self.client, self._capabilities, cwd)
        session = HubSession(hub, tools, agent, mcp)
        session.reader = asyncio.create_task(self._read(session_id, session, frames))
        self._sessions[session_id] = session
        return session

    # --- turns ------------------------------------------------------------------------------

    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> PromptResponse:
        session = self._session(session_id)
        text = "\n\n".join(_text_of(block) for block in prompt).strip()
        if not text:
            raise acp.RequestError.invalid_params({"prompt": "no text in the prompt"})
        session.turn_over = asyncio.get_running_loop().create_future()
        session.turn_started, answering = False, session.asked_question
        session.asked_question, session.turn_usage = False, None
        offered = session.mcp.offered() if session.mcp is not None else None
        await session.hub.send_message(text, tools=offered)
        if answering:
            session.turn_started = True  # the answer continues the turn that asked
        reason = await session.turn_over
        stop_reason = STOP_REASONS.get(reason, "end_turn")
        return PromptResponse(stop_reason=stop_reason, usage=session.turn_usage)

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        if (session := self._sessions.get(session_id)) is not None:
            await session.hub.cancel()

    async def set_session_mode(
        self, session_id: str, mode_id: str, **kwargs: Any
    ) -> SetSessionModeResponse:
        if mode_id not in AGENTS:
            raise acp.RequestError.invalid_params({"modeId": mode_id, "modes": list(AGENTS)})
        session = self._session(session_id)
        if mode_id != session.agent:
            # Answered once the hub has switched, so the mode update comes before the answer.
            session.switched = asyncio.get_running_loop().create_future()
            await session.hub.switch_agent(mode_id, "chosen in the editor")
            async with asyncio.timeout(SWITCH_SECONDS):
                await session.switched
        return SetSessionModeResponse()

    def _session(self, session_id: str) -> HubSession:
        if (session := self._sessions.get(session_id)) is None:
            raise acp.RequestError.resource_not_found(session_id)
        return session

    # --- the hub's frames, as the editor sees them ------------------------------------------

    async def _read(self, session_id: str, session: HubSession, frames: Any) -> None:
        try:
            async for frame in frames:
                await self._show(session_id, session, frame)
        except Exception:  # a broken bridge must say why on stderr, not hang the editor
            log.exception("session %s: the hub connection failed", session_id)
            if session.turn_over is not None and not session.turn_over.done():
                session.turn_over.set_result("error")

    async def _show(self, session_id: str, session: HubSession, frame: p.HubFrame) -> None:
        update = self.client.session_update
        match frame:
            case p.AssistantMessage(token=token) if token:
                await update(session_id, acp.update_agent_message_text(token))
            case p.AgentSwitched(to_agent=to_agent):
                session.agent = to_agent
                await update(session_id, update_current_mode(to_agent))
                if session.switched is not None and not session.switched.done():
                    session.switched.set_result(to_agent)
            case p.ToolCall(requires_approval=True) as call:
                diff = await session.tools.diff(session_id, call.tool_name, call.arguments)
                await update(session_id, _tool_call_start(call, "pending", diff))
                session.asked.add(call.call_id)
                self._spawn(self._ask(session_id, session, call))
            case p.ToolCall() as call:
                await update(session_id, _tool_call_start(call, "in_progress"))
                self._spawn(self._run_tool(session_id, session, call))
            case p.ToolFinished(call_id=call_id, status=status, content=content):
                done: ToolStatus = "completed" if status == "done" else "failed"
                body = [acp.tool_content(acp.text_block(content))]
                await update(session_id, acp.update_tool_call(call_id, status=done, content=body))
            case p.ApprovalResolved(call_id=call_id, decision=decision):
                session.asked.discard(call_id)  # a late answer from the editor is dropped
                going: ToolStatus = "in_progress" if decision in ("approve", "edit") else "failed"
                await update(session_id, acp.update_tool_call(call_id, status=going))
            case p.PlanApprovalRequired() as plan:
                await update(session_id, plans.plan_update(plan.plan_summary.get("steps", [])))
                self._spawn(plans.ask(self.client, session.hub, session_id, plan))
            case p.PlanUpdated(steps=steps):
                await update(session_id, plans.plan_update(steps))
            case p.FollowupQuestion(question=question, options=options):
                session.asked_question = True
                choices = f" ({' / '.join(options)})" if options else ""
                await update(session_id, acp.update_agent_message_text(f"\n{question}{choices}\n"))
                if session.turn_over is not None and not session.turn_over.done():
                    session.turn_over.set_result("completed")  # the editor's next prompt answers
            case p.Error(code=code, content=content):
                await update(session_id, acp.update_agent_message_text(f"\n[{code}] {content}\n"))
            case p.UsageReport() as usage:
                session.turn_usage = add_run(session.turn_usage, usage)
                if (context := context_update(usage)) is not None:
                    await update(session_id, context)
            case p.RunStarted(kind="message"):
                session.turn_started = True
            case p.RunFinished(reason=reason) if reason != "waiting" and session.turn_started:
                if session.turn_over is not None and not session.turn_over.done():
                    session.turn_over.set_result(reason)

    async def _ask(self, session_id: str, session: HubSession, call: p.ToolCall) -> None:
        request = ToolCallUpdate(
            tool_call_id=call.call_id,
            title=title(call.tool_name, call.arguments),
            kind=KINDS.get(call.tool_name, "other"),
            status="pending",
            raw_input=call.arguments,
        )
        answer = await self.client.request_permission(
            session_id=session_id, tool_call=request, options=PERMISSIONS
        )
        if call.call_id not in session.asked:
            return  # decided elsewhere first (the console, another window)
        session.asked.discard(call.call_id)
        outcome = answer.outcome
        if not isinstance(outcome, AllowedOutcome) or outcome.option_id.startswith("reject"):
            always = isinstance(outcome, AllowedOutcome) and outcome.option_id == "reject_always"
            await session.hub.reject(call.call_id, "rejected in the editor", always=always)
            return
        await session.hub.approve(call.call_id, always=outcome.option_id == "allow_always")
        if not call.tool_name.startswith(MOUNTED):  # the hub runs its own MCP tools
            await self._run_tool(session_id, session, call)  # approved in-band: the IDE runs it

    async def _run_tool(self, session_id: str, session: HubSession, call: p.ToolCall) -> None:
        mcp = session.mcp
        try:
            if mcp is not None and (tool := mcp.find(call.tool_name)) is not None:
                result = await mcp.run(self.client, session_id, call, tool)
            else:
                result = await session.tools.run(session_id, call.tool_name, call.arguments)
        except Exception as exc:  # the hub must hear back, or the turn waits for nothing
            if not isinstance(exc, ToolFailed | McpCallFailed | acp.RequestError | OSError):
                log.exception("session %s: %s failed in the bridge", session_id, call.tool_name)
            await session.hub.tool_result(call.call_id, error=str(exc) or type(exc).__name__)
        else:
            await session.hub.tool_result(call.call_id, result=result)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _modes(current: str) -> SessionModeState:
    return SessionModeState(current_mode_id=current, available_modes=MODES)


def _tool_call_start(call: p.ToolCall, status: ToolStatus, diff: Any = None) -> Any:
    content = [diff] if diff is not None else None
    return acp.start_tool_call(
        call.call_id,
        title(call.tool_name, call.arguments),
        kind=KINDS.get(call.tool_name, "other"),
        status=status,
        content=content,
        raw_input=call.arguments,
    )


def _text_of(block: Any) -> str:
    if getattr(block, "type", None) == "text":
        return str(block.text)
    resource = getattr(block, "resource", None)
    if resource is not None and getattr(resource, "text", None):
        return f"{getattr(resource, 'uri', '')}:\n{resource.text}"
    return ""


async def serve(url: str, token: str) -> None:
    """Speak ACP on stdin/stdout until the editor closes them."""
    agent = HubAgent(url, token)
    try:
        await acp.run_agent(cast(acp.Agent, agent))
    finally:
        await agent.aclose()
