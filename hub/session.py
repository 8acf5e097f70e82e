"""A live session: owns its run and queue, numbers its frames, fans them out to its clients.

Sans-transport: clients are `Subscriber`s that take already-encoded frames without blocking, so
the session is driven the same way by sockets, SSE streams and tests. Every broadcast frame takes
the next `seq` and is encoded once, however many clients receive it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from agents.definitions import AGENTS, AgentSpec
from agents.engine import ToolOutcome, ToolRequest, TurnEngine, TurnOutcome
from db import store
from db.models import ToolCallStatus
from hub import protocol as p

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    data: dict[str, Any]
    text: str  # the JSON sent on the wire, encoded once for all subscribers


class Subscriber(Protocol):
    def deliver(self, frame: Frame) -> None:
        """Take a frame without blocking; the subscriber owns its buffering."""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    run_id: str
    role: p.Role
    content: str


class UnknownAgent(Exception):
    pass


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _encode(data: dict[str, Any]) -> Frame:
    return Frame(data, orjson.dumps(data).decode())


class LiveSession:
    def __init__(
        self,
        session_id: str,
        current_agent: str,
        engine: TurnEngine,
        tool_timeout: float,
        on_quiet: Callable[[LiveSession], None] | None = None,
        pending_approvals: list[p.PendingApproval] | None = None,
    ) -> None:
        self.id = session_id
        self.current_agent = current_agent
        self._on_quiet = on_quiet
        self._pending_approvals = {a.call_id: a for a in pending_approvals or ()}
        self._engine = engine
        self._tool_timeout = tool_timeout
        self._seq = 0
        self._subscribers: set[Subscriber] = set()
        self._queue: deque[QueuedMessage] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._run: asyncio.Task[TurnOutcome] | None = None
        self._tool_waiters: dict[str, asyncio.Future[p.ToolResult]] = {}

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def run_state(self) -> Literal["idle", "running"]:
        return "running" if self._worker is not None and not self._worker.done() else "idle"

    # --- clients ----------------------------------------------------------------------------

    def attach(self, subscriber: Subscriber) -> None:
        """Add a client and greet it with `session_ready` before any other frame."""
        self._subscribers.add(subscriber)
        self.reply(
            subscriber,
            p.SessionReady,
            current_agent=self.current_agent,
            run_state=self.run_state,
            pending_approvals=list(self._pending_approvals.values()),
        )

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a client that wants the frames but no greeting (an SSE stream)."""
        self._subscribers.add(subscriber)

    def detach(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        self._check_quiet()

    def _check_quiet(self) -> None:
        """Tell the owner when nobody listens and nothing runs, so it can let go of us."""
        if not self._subscribers and self.run_state == "idle" and self._on_quiet is not None:
            self._on_quiet(self)

    async def handle(self, frame: p.ClientFrame, origin: Subscriber) -> None:
        """Act on one validated client frame; problems are answered to `origin` only."""
        match frame:
            case p.UserMessage(content=content, role=role):
                self.submit(content, role)
            case p.ToolResult():
                self.resolve_tool(frame, origin)
            case p.HitlDecision(call_id=call_id):
                self.reply_error(
                    origin, p.ErrorCode.UNKNOWN_CALL, f"no approval is pending for {call_id!r}"
                )
            case p.SwitchAgent(agent_type=agent, content=content, reason=reason):
                await self._switch_from_client(agent, content, reason, origin)
            case p.PlanDecision():
                self.reply_error(origin, p.ErrorCode.NOT_SUPPORTED, "this hub has no plans")
            case p.Cancel():
                self.cancel()
            case p.Ping(data=data):
                self.reply(origin, p.Pong, data=data)

    # --- frames -----------------------------------------------------------------------------

    def _fan_out(self, frame: Frame) -> None:
        for subscriber in tuple(self._subscribers):
            subscriber.deliver(frame)

    def publish(self, model: type[p.HubFrameModel], **fields: Any) -> None:
        """Broadcast a typed frame under the next `seq`."""
        self._seq += 1
        built = model(session_id=self.id, seq=self._seq, ts=_now_ms(), **fields)
        self._fan_out(_encode(built.model_dump(mode="json")))

    def reply(self, subscriber: Subscriber, model: type[p.HubFrameModel], **fields: Any) -> None:
        """Send a frame to one client; it repeats the current `seq` and is not broadcast."""
        built = model(session_id=self.id, seq=self._seq, ts=_now_ms(), **fields)
        subscriber.deliver(_encode(built.model_dump(mode="json")))

    def reply_error(self, subscriber: Subscriber, code: p.ErrorCode, content: str) -> None:
        self.reply(subscriber, p.Error, code=code, content=content)

    # --- RunSink: what the turn engine calls -------------------------------------------------

    def token(self, text: str) -> None:
        # The hot path: a plain dict in AssistantMessage's shape, no model per token.
        self._seq += 1
        data = {
            "type": "assistant_message",
            "token": text,
            "is_final": False,
            "session_id": self.id,
            "seq": self._seq,
            "ts": _now_ms(),
        }
        self._fan_out(_encode(data))

    def message_end(self) -> None:
        self.publish(p.AssistantMessage, token="", is_final=True)

    def error(self, code: str, content: str) -> None:
        self.publish(p.Error, code=p.ErrorCode(code), content=content)

    async def call_tool(self, agent: AgentSpec, request: ToolRequest) -> ToolOutcome:
        """Ask the IDE to run a tool and wait for its `tool_result`."""
        waiter: asyncio.Future[p.ToolResult] = asyncio.get_running_loop().create_future()
        self._tool_waiters[request.call_id] = waiter
        await store.record_tool_call(
            request.call_id, self.id, agent.name, request.tool_name, request.arguments
        )
        self.publish(
            p.ToolCall,
            call_id=request.call_id,
            tool_name=request.tool_name,
            arguments=request.arguments,
        )
        try:
            result = await asyncio.wait_for(waiter, self._tool_timeout)
        except TimeoutError:
            message = f"no tool_result for {request.call_id} within {self._tool_timeout:g}s"
            await store.finish_tool_call(request.call_id, ToolCallStatus.FAILED, None, message)
            self.error(p.ErrorCode.TOOL_TIMEOUT, message)
            return ToolOutcome(f"error: {message}", ok=False)
        finally:
            self._tool_waiters.pop(request.call_id, None)
        status = ToolCallStatus.FAILED if result.error else ToolCallStatus.DONE
        await store.finish_tool_call(request.call_id, status, result.result, result.error)
        if result.error:
            return ToolOutcome(f"error: {result.error}", ok=False)
        content = result.result if isinstance(result.result, str) else orjson.dumps(result.result)
        return ToolOutcome(content if isinstance(content, str) else content.decode())

    def resolve_tool(self, result: p.ToolResult, origin: Subscriber) -> None:
        waiter = self._tool_waiters.get(result.call_id)
        if waiter is None or waiter.done():
            self.reply_error(
                origin, p.ErrorCode.UNKNOWN_CALL, f"no tool call {result.call_id!r} is waiting"
            )
            return
        waiter.set_result(result)

    # --- runs -------------------------------------------------------------------------------

    def submit(self, content: str, role: p.Role = "user") -> QueuedMessage:
        """Run this message now, or after the messages queued before it."""
        message = QueuedMessage(uuid.uuid4().hex[:16], role, content)
        self._queue.append(message)
        if self.run_state == "running":
            self.publish(p.MessageQueued, position=len(self._queue), content=content)
        else:
            self._worker = asyncio.create_task(self._drain(), name=f"session-{self.id}")
        return message

    def cancel(self) -> bool:
        """Stop the running turn (not the queued ones); False if nothing was running."""
        if self._run is None or self._run.done():
            return False
        self._run.cancel()
        return True

    async def close(self) -> None:
        """Stop everything on shutdown; a running turn still stores its partial answer."""
        self._queue.clear()
        if self._run is not None:
            self._run.cancel()
            await asyncio.wait({self._run})
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.wait({self._worker})

    async def _drain(self) -> None:
        while self._queue:
            message = self._queue.popleft()
            self._run = asyncio.create_task(self._turn(message))
            # wait() rather than await: a cancelled run must not cancel the queue behind it.
            await asyncio.wait({self._run})
            self._run = None
        self._worker = None
        self._check_quiet()

    async def _turn(self, message: QueuedMessage) -> TurnOutcome:
        agent = AGENTS[self.current_agent]
        outcome = TurnOutcome("error")
        self.publish(p.RunStarted, run_id=message.run_id, agent=agent.name)
        try:
            await store.add_message(self.id, message.role, message.content, agent=agent.name)
            outcome = await self._engine.run(self.id, agent, self)
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            outcome = TurnOutcome("cancelled")
        except Exception:
            log.exception("run %s of session %s failed", message.run_id, self.id)
            self.error(p.ErrorCode.INTERNAL_ERROR, "the hub failed while running this turn")
        self.publish(
            p.RunFinished,
            run_id=message.run_id,
            reason=outcome.reason,
            message_id=outcome.message_id,
        )
        return outcome

    # --- agents -----------------------------------------------------------------------------

    async def switch_agent(self, to_agent: str, reason: str, method: str = "user") -> None:
        if to_agent not in AGENTS:
            raise UnknownAgent(f"unknown agent {to_agent!r}; expected one of: {', '.join(AGENTS)}")
        from_agent, self.current_agent = self.current_agent, to_agent
        content = f"Switched from {from_agent} to {to_agent}: {reason}"
        await store.set_current_agent(self.id, to_agent)
        await store.add_message(self.id, "system", content, agent=to_agent)
        self.publish(
            p.AgentSwitched,
            content=content,
            from_agent=from_agent,
            to_agent=to_agent,
            reason=reason,
            method=method,
        )

    async def _switch_from_client(
        self, agent: str, content: str, reason: str | None, origin: Subscriber
    ) -> None:
        try:
            await self.switch_agent(agent, reason or "requested by the user")
        except UnknownAgent as exc:
            self.reply_error(origin, p.ErrorCode.UNKNOWN_AGENT, str(exc))
            return
        if content:
            self.submit(content)
