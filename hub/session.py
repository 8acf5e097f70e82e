"""A live session: owns its turns, numbers its frames, fans them out to its clients.

Sans-transport: clients are `Subscriber`s that take already-encoded frames without blocking, so
the session is driven the same way by sockets, SSE streams and tests. Every broadcast frame takes
the next `seq` and is encoded once, however many clients receive it.

States: idle → running (a run task works on the turn) → idle, or → waiting (the turn is parked
on calls: approvals, IDE results, an answer) → running again when what it waits for arrives.
User messages that come while running or waiting are queued; `_next_work` is the one place
that decides what runs next.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson

from agents.definitions import AGENTS, AgentSpec
from agents.engine import TurnEngine, TurnOutcome
from agents.events import SwitchMethod, ToolCallNotice, ToolOutcomeStatus, Wait
from db import store
from db.models import ApprovalStatus, ToolCallStatus
from hub import protocol as p
from tools.approval import subject
from tools.permissions import refusal
from tools.registry import TOOLS, InvalidArguments, parse_arguments

log = logging.getLogger(__name__)

RunState = Literal["idle", "running", "waiting"]
_DECISIONS = {
    "approve": ApprovalStatus.APPROVED,
    "edit": ApprovalStatus.EDITED,
    "reject": ApprovalStatus.REJECTED,
}


@dataclass(frozen=True, slots=True)
class Frame:
    data: dict[str, Any]
    text: str  # the JSON sent on the wire, encoded once for all subscribers


class Subscriber(Protocol):
    @property
    def name(self) -> str:
        """Who this client is in audit records, e.g. `ide:3f2a…` or `console:…`."""

    def deliver(self, frame: Frame) -> None:
        """Take a frame without blocking; the subscriber owns its buffering."""


@dataclass(frozen=True, slots=True)
class Work:
    run_id: str
    kind: Literal["message", "continue", "abandon"]
    role: p.Role = "user"
    content: str = ""


class SessionError(Exception):
    """A request the session refuses; `code` says why, the message says it to a human."""

    def __init__(self, code: p.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _encode(data: dict[str, Any]) -> Frame:
    return Frame(data, orjson.dumps(data).decode())


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class LiveSession:
    def __init__(
        self,
        session_id: str,
        current_agent: str,
        engine: TurnEngine,
        *,
        on_quiet: Callable[[LiveSession], None] | None = None,
        approval_warning_seconds: float = 10.0,
    ) -> None:
        self.id = session_id
        self.current_agent = current_agent
        self._engine = engine
        self._on_quiet = on_quiet
        self._approval_warning = approval_warning_seconds
        self._seq = 0
        self._subscribers: set[Subscriber] = set()
        self._queue: deque[Work] = deque()
        self._next_run: Work | None = None  # a continuation or abandon: runs before the queue
        self._worker: asyncio.Task[None] | None = None
        self._run: asyncio.Task[TurnOutcome] | None = None
        self._waits: dict[str, Wait] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def agent(self) -> AgentSpec:
        return AGENTS[self.current_agent]

    @property
    def run_state(self) -> RunState:
        if self._worker is not None and not self._worker.done():
            return "running"
        return "waiting" if self._waits else "idle"

    async def restore(self) -> None:
        """After a restart: take up the calls the stored turn is parked on."""
        for record in await store.open_tool_calls(self.id):
            approval = await store.get_approval(record.id)
            if record.status is ToolCallStatus.DISPATCHED:
                kind: Literal["approval", "tool_result", "answer"] = "tool_result"
                deadline = record.deadline
            elif record.tool_name == "ask_followup_question":
                kind, deadline = "answer", None
            elif approval is not None and approval.status is ApprovalStatus.PENDING:
                kind, deadline = "approval", approval.expires_at
            else:  # decided, not yet run: the turn can go on by itself
                self.request_continue()
                continue
            args = record.arguments
            self.awaiting(Wait(record.id, kind, record.tool_name, args, record.agent, deadline))

    # --- clients ----------------------------------------------------------------------------

    def attach(self, subscriber: Subscriber) -> None:
        """Add a client: `session_ready` first, then the calls that wait for a client."""
        self._subscribers.add(subscriber)
        pending = [
            p.PendingApproval(
                call_id=w.call_id,
                tool_name=w.tool_name,
                arguments=w.arguments,
                agent=w.agent,
                created_at=datetime.now(UTC).isoformat(),
                expires_at=_iso(w.deadline),
            )
            for w in self._waits.values()
            if w.kind == "approval"
        ]
        self.reply(
            subscriber,
            p.SessionReady,
            current_agent=self.current_agent,
            run_state=self.run_state,
            pending_approvals=pending,
        )
        for wait in self._waits.values():
            self._resend(subscriber, wait)

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a client that wants the frames but no greeting (an SSE stream)."""
        self._subscribers.add(subscriber)

    def detach(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        self._check_quiet()

    def _check_quiet(self) -> None:
        """Tell the owner when nobody listens and nothing runs, so it can let go of us."""
        if not self._subscribers and self.run_state != "running" and self._on_quiet:
            self._on_quiet(self)

    def _resend(self, subscriber: Subscriber, wait: Wait) -> None:
        if wait.kind == "answer":
            self.reply(
                subscriber,
                p.FollowupQuestion,
                call_id=wait.call_id,
                question=wait.arguments.get("question", ""),
                options=wait.arguments.get("options"),
            )
            return
        self.reply(
            subscriber,
            p.ToolCall,
            call_id=wait.call_id,
            tool_name=wait.tool_name,
            arguments=wait.arguments,
            requires_approval=wait.kind == "approval",
            agent=wait.agent,
            expires_at=_iso(wait.deadline) if wait.kind == "approval" else None,
        )

    async def handle(self, frame: p.ClientFrame, origin: Subscriber) -> None:
        """Act on one validated client frame; refusals are answered to `origin` only."""
        try:
            await self._dispatch(frame, origin)
        except SessionError as exc:
            self.reply_error(origin, exc.code, str(exc))

    async def _dispatch(self, frame: p.ClientFrame, origin: Subscriber) -> None:
        match frame:
            case p.UserMessage(content=content, role=role):
                if not await self._answer_question(content):
                    self.submit(content, role)
            case p.ToolResult(call_id=call_id, result=result, error=error):
                await self.tool_result(call_id, result, error)
            case p.HitlDecision():
                await self.decide(frame, origin.name)
            case p.SwitchAgent(agent_type=agent, content=content, reason=reason):
                await self.switch_agent(agent, reason or "requested by the user", "user")
                if content:
                    self.submit(content)
            case p.PlanDecision():
                raise SessionError(p.ErrorCode.NOT_SUPPORTED, "this hub has no plans")
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

    # --- RunSink: what the turn engine and the dispatcher call ------------------------------

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

    def tool_call(self, notice: ToolCallNotice) -> None:
        self.publish(
            p.ToolCall,
            call_id=notice.call_id,
            tool_name=notice.tool_name,
            arguments=notice.arguments,
            requires_approval=notice.requires_approval,
            agent=notice.agent,
            expires_at=_iso(notice.expires_at),
            diff=notice.diff,
        )

    def tool_finished(
        self, call_id: str, tool_name: str, status: ToolOutcomeStatus, content: str
    ) -> None:
        self._forget_wait(call_id)
        self.publish(
            p.ToolFinished, call_id=call_id, tool_name=tool_name, status=status, content=content
        )

    def followup_question(self, call_id: str, question: str, options: list[str] | None) -> None:
        self.publish(p.FollowupQuestion, call_id=call_id, question=question, options=options)

    def approval_resolved(
        self,
        call_id: str,
        decision: str,
        decided_by: str,
        feedback: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        self._forget_wait(call_id)
        self.publish(
            p.ApprovalResolved,
            call_id=call_id,
            decision=decision,
            decided_by=decided_by,
            arguments=arguments,
            feedback=feedback,
        )

    def awaiting(self, wait: Wait) -> None:
        self._waits[wait.call_id] = wait
        if wait.deadline is not None and wait.call_id not in self._timers:
            self._timers[wait.call_id] = asyncio.create_task(self._expire(wait))

    def _forget_wait(self, call_id: str) -> None:
        self._waits.pop(call_id, None)
        timer = self._timers.pop(call_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def switch_agent(
        self, to_agent: str, reason: str, method: SwitchMethod, confidence: float | None = None
    ) -> None:
        if to_agent not in AGENTS:
            raise SessionError(
                p.ErrorCode.UNKNOWN_AGENT,
                f"unknown agent {to_agent!r}; expected one of: {', '.join(AGENTS)}",
            )
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
            confidence=None if confidence is None else f"{confidence:.2f}",
            method=method,
        )

    # --- what clients answer ----------------------------------------------------------------

    async def decide(self, decision: p.HitlDecision, decided_by: str) -> str:
        """Record a human's decision on a pending approval; returns the run that goes on."""
        approval = await store.get_approval(decision.call_id)
        if approval is None or approval.session_id != self.id:
            raise SessionError(
                p.ErrorCode.UNKNOWN_CALL, f"no approval for call {decision.call_id!r}"
            )
        call = approval.call
        arguments = call.arguments
        if decision.decision == "edit":
            arguments = self._edited(call.tool_name, call.agent, arguments, decision)
        modified = arguments if decision.decision == "edit" else None
        status = _DECISIONS[decision.decision]
        if not await store.decide_approval(
            call.id, status, decided_by, modified, decision.feedback
        ):
            current = await store.get_approval(call.id)
            state = current.status.value if current else "decided"
            by = current.decided_by if current else "?"
            raise SessionError(
                p.ErrorCode.ALREADY_DECIDED, f"call {call.id!r} was already {state} by {by}"
            )
        if decision.always_allow and decision.decision != "reject":
            args = parse_arguments(TOOLS[call.tool_name], arguments)
            pattern = decision.allow_pattern or subject(args) or "*"
            await store.add_allow_rule(self.id, call.tool_name, pattern, decided_by)
        self.approval_resolved(
            call.id,
            decision.decision,
            decided_by,
            decision.feedback,
            None if decision.decision == "reject" else arguments,
        )
        return self.request_continue()

    def _edited(
        self, tool_name: str, agent: str, arguments: dict[str, Any], decision: p.HitlDecision
    ) -> dict[str, Any]:
        if not decision.modified_arguments:
            raise SessionError(p.ErrorCode.INVALID_DECISION, "edit needs modified_arguments")
        merged = {**arguments, **decision.modified_arguments}
        try:
            args = parse_arguments(TOOLS[tool_name], merged)
        except InvalidArguments as exc:
            raise SessionError(p.ErrorCode.INVALID_DECISION, str(exc)) from None
        if (why := refusal(AGENTS[agent], tool_name, args)) is not None:
            raise SessionError(p.ErrorCode.INVALID_DECISION, f"refused: {why}")
        return args.model_dump(exclude_unset=True)

    async def tool_result(self, call_id: str, result: Any, error: str | None) -> str:
        """Take an IDE's result (or a user's answer); returns the run that goes on."""
        record = await store.get_tool_call(call_id)
        if record is None or record.session_id != self.id:
            raise SessionError(p.ErrorCode.UNKNOWN_CALL, f"no tool call {call_id!r} is waiting")
        accepted_from: tuple[ToolCallStatus, ...] = (ToolCallStatus.DISPATCHED,)
        approval = await store.get_approval(call_id)
        in_band = approval is not None and approval.status in (
            ApprovalStatus.APPROVED,
            ApprovalStatus.EDITED,
        )
        if record.tool_name == "ask_followup_question" or in_band:
            # An IDE runs a call it approved itself before the hub marks it dispatched.
            accepted_from += (ToolCallStatus.PENDING,)
        status = ToolCallStatus.FAILED if error else ToolCallStatus.DONE
        if not await store.finish_tool_call(
            call_id, status, result, error, only_from=accepted_from
        ):
            raise SessionError(
                p.ErrorCode.UNKNOWN_CALL,
                f"tool call {call_id!r} is not waiting for a result (it is {record.status})",
            )
        self._forget_wait(call_id)
        return self.request_continue()

    async def _answer_question(self, content: str) -> bool:
        """While the agent waits for an answer, the user's next message is that answer."""
        for wait in self._waits.values():
            if wait.kind == "answer":
                await self.tool_result(wait.call_id, content, None)
                return True
        return False

    async def _expire(self, wait: Wait) -> None:
        assert wait.deadline is not None
        if wait.kind == "approval":
            await _sleep_until(wait.deadline.timestamp() - self._approval_warning)
            self.publish(p.ApprovalExpiring, call_id=wait.call_id, expires_at=_iso(wait.deadline))
        await _sleep_until(wait.deadline.timestamp())
        if wait.kind == "approval":
            why = "nobody decided in time"
            if await store.decide_approval(
                wait.call_id, ApprovalStatus.EXPIRED, "timeout", feedback=why
            ):
                self.approval_resolved(wait.call_id, "expired", "timeout", why)
                self.request_continue()
            return
        why = f"the IDE sent no tool_result for {wait.call_id} in time"
        if await store.finish_tool_call(
            wait.call_id,
            ToolCallStatus.EXPIRED,
            None,
            why,
            only_from=(ToolCallStatus.DISPATCHED,),
        ):
            self._forget_wait(wait.call_id)
            self.error(p.ErrorCode.TOOL_TIMEOUT, why)
            self.request_continue()

    # --- runs -------------------------------------------------------------------------------

    def submit(self, content: str, role: p.Role = "user") -> Work:
        """Run this message now, or after the turn in progress and the messages before it."""
        work = Work(_new_id(), "message", role, content)
        busy = self.run_state != "idle" or bool(self._queue)
        self._queue.append(work)
        if busy:
            self.publish(p.MessageQueued, position=len(self._queue), content=content)
        self._kick()
        return work

    def request_continue(self) -> str:
        """Go on with the parked turn (once, however many inputs arrive together)."""
        if self._next_run is None or self._next_run.kind != "continue":
            self._next_run = Work(_new_id(), "continue")
        self._kick()
        return self._next_run.run_id

    def cancel(self) -> bool:
        """Stop the turn: the running one, or the one parked on calls. Queued messages stay."""
        if self._run is not None and not self._run.done():
            self._run.cancel()
            return True
        if self._waits:
            self._next_run = Work(_new_id(), "abandon")
            self._kick()
            return True
        return False

    async def close(self) -> None:
        """Stop everything on shutdown; a running turn still stores its partial answer."""
        self._queue.clear()
        self._next_run = None
        for timer in self._timers.values():
            timer.cancel()
        if self._run is not None:
            self._run.cancel()
            await asyncio.wait({self._run})
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.wait({self._worker})

    def _kick(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name=f"session-{self.id}")

    def _next_work(self) -> Work | None:
        """The one place that decides what runs next."""
        if self._next_run is not None:
            work, self._next_run = self._next_run, None
            return work
        if self._waits or not self._queue:
            return None
        return self._queue.popleft()

    async def _drain(self) -> None:
        while (work := self._next_work()) is not None:
            self._run = asyncio.create_task(self._turn(work))
            # wait() rather than await: a cancelled run must not cancel the queue behind it.
            await asyncio.wait({self._run})
            self._run = None
        self._worker = None
        self._check_quiet()

    async def _turn(self, work: Work) -> TurnOutcome:
        kind: Literal["message", "continue"] = "message" if work.kind == "message" else "continue"
        self.publish(p.RunStarted, run_id=work.run_id, agent=self.current_agent, kind=kind)
        outcome = TurnOutcome("error")
        try:
            if work.kind == "message":
                await store.add_message(self.id, work.role, work.content, agent=self.current_agent)
                outcome = await self._engine.advance(self.id, self, user_text=work.content)
            elif work.kind == "continue":
                outcome = await self._engine.advance(self.id, self)
            else:
                await self._engine.abandon(self.id, self)
                outcome = TurnOutcome("cancelled")
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            outcome = TurnOutcome("cancelled")
        except SessionError as exc:
            self.error(exc.code, str(exc))
        except Exception:
            log.exception("run %s of session %s failed", work.run_id, self.id)
            self.error(p.ErrorCode.INTERNAL_ERROR, "the hub failed while running this turn")
        self.publish(
            p.RunFinished,
            run_id=work.run_id,
            reason=outcome.reason,
            message_id=outcome.message_id,
            waiting_for=list(self._waits) if outcome.reason == "waiting" else [],
        )
        return outcome


async def _sleep_until(timestamp: float) -> None:
    delay = timestamp - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
