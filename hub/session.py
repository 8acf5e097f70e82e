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
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agents.definitions import AGENTS, AgentSpec
from agents.engine import TurnEngine, TurnOutcome
from agents.events import SwitchMethod, ToolCallNotice, ToolOutcomeStatus, Wait
from db import store
from db.models import ApprovalStatus, ToolCallStatus
from hub import protocol as p
from hub.answers import SessionError, decide, expire, take_tool_result
from hub.fanout import FrameStream, Retention, Subscriber
from hub.history import history_message
from hub.ratelimit import RateLimit
from hub.waits import Waits

log = logging.getLogger(__name__)

RunState = Literal["idle", "running", "waiting"]
RESYNC_MESSAGES = 50


@dataclass(frozen=True, slots=True)
class Work:
    run_id: str
    kind: Literal["message", "continue", "abandon"]
    role: p.Role = "user"
    content: str = ""


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _pending(wait: Wait) -> p.PendingApproval:
    return p.PendingApproval(
        call_id=wait.call_id,
        tool_name=wait.tool_name,
        arguments=wait.arguments,
        agent=wait.agent,
        created_at=wait.since.isoformat(),
        expires_at=_iso(wait.deadline),
    )


class LiveSession:
    def __init__(
        self,
        session_id: str,
        current_agent: str,
        engine: TurnEngine,
        *,
        on_quiet: Callable[[LiveSession], None] | None = None,
        approval_warning_seconds: float = 10.0,
        retention: Retention | None = None,
        frames_per_second: float = 20.0,
    ) -> None:
        self.id = session_id
        self.current_agent = current_agent
        self._engine = engine
        self._on_quiet = on_quiet
        self.frames = FrameStream(session_id, retention)
        self._rate = RateLimit(frames_per_second)
        self._queue: deque[Work] = deque()
        self._next_run: Work | None = None  # a continuation or abandon: runs before the queue
        self._worker: asyncio.Task[None] | None = None
        self._run: asyncio.Task[TurnOutcome] | None = None
        self.waits = Waits(self._expire, self._warn, approval_warning_seconds)

    @property
    def agent(self) -> AgentSpec:
        return AGENTS[self.current_agent]

    @property
    def run_state(self) -> RunState:
        if self._worker is not None and not self._worker.done():
            return "running"
        return "waiting" if self.waits else "idle"

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
            self.waits.add(
                Wait(
                    record.id,
                    kind,
                    record.tool_name,
                    args,
                    record.agent,
                    deadline,
                    since=record.created_at,
                )
            )

    # --- clients ----------------------------------------------------------------------------

    def attach(
        self,
        subscriber: Subscriber,
        resume: tuple[str, int] | None = None,
        history: list[p.HistoryMessage] | None = None,
        *,
        remote: bool = False,
    ) -> None:
        """Add a client: `session_ready` first. A client resuming from `(epoch, last_seq)` then
        gets exactly the frames it missed; one that cannot resume gets `resync` with `history`;
        a new one gets the calls that wait for a client."""
        replay = self.frames.replay(*resume) if resume is not None else None
        if remote:
            self.frames.remote[subscriber.name] = subscriber
        else:
            self.frames.subscribers.add(subscriber)
        self.reply(
            subscriber,
            p.SessionReady,
            epoch=self.frames.epoch,
            resumed=replay is not None,
            current_agent=self.current_agent,
            run_state=self.run_state,
            pending_approvals=[_pending(w) for w in self.waits if w.kind == "approval"],
        )
        if replay is not None:
            for frame in replay:
                subscriber.deliver(frame)
            return
        if resume is not None:
            reason = "epoch_changed" if resume[0] != self.frames.epoch else "gap_too_old"
            self.reply(subscriber, p.Resync, reason=reason, messages=history or [])
        for wait in self.waits:
            self._resend(subscriber, wait)

    @property
    def connections(self) -> int:
        return len(self.frames.subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a client that wants the frames but no greeting (an SSE stream)."""
        self.frames.subscribers.add(subscriber)

    def detach(self, subscriber: Subscriber) -> None:
        self.frames.subscribers.discard(subscriber)
        self.frames.remote.pop(subscriber.name, None)
        self._check_quiet()

    @property
    def quiet(self) -> bool:
        frames = self.frames
        return not frames.subscribers and not frames.remote and self.run_state == "idle"

    def _check_quiet(self) -> None:
        """Tell the owner when nobody listens and nothing runs, so it can let go of us."""
        # A parked turn stays in memory: its timers must fire on this object and no other.
        if self.quiet and self._on_quiet:
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
        if not isinstance(frame, p.Ping | p.Cancel) and not self._rate.take():
            self.reject(
                origin,
                p.ErrorCode.RATE_LIMITED,
                f"more than {self._rate.per_second:g} frames per second on this session; "
                "this one was dropped",
            )
            return
        if isinstance(frame, p.Ping):
            self.reply(origin, p.Pong, data=frame.data)
            return
        try:
            await self.act(frame, origin.name)
        except SessionError as exc:
            self.reject(origin, exc.code, str(exc))

    async def act(self, frame: p.ClientFrame, by: str) -> str | None:
        """Do what a client asks (socket, SSE or REST); the run that follows, if any.
        Refusals raise `SessionError`."""
        match frame:
            case p.UserMessage(content=content, role=role, interrupt=interrupt):
                question = self.waits.question()
                if question is not None:
                    return await take_tool_result(self, question.call_id, content, None)
                return self.submit(content, role, interrupt=interrupt).run_id
            case p.ToolResult(call_id=call_id, result=result, error=error):
                return await take_tool_result(self, call_id, result, error)
            case p.HitlDecision():
                return await decide(self, frame, by)
            case p.SwitchAgent(agent_type=agent, content=content, reason=reason):
                await self.switch_agent(agent, reason or "requested by the user", "user")
                return self.submit(content).run_id if content else None
            case p.Cancel():
                self.cancel()
                return None
        raise SessionError(p.ErrorCode.NOT_SUPPORTED, f"{frame.type} is not supported here")

    async def join(
        self, client: Subscriber, resume: tuple[str, int] | None, *, remote: bool = False
    ) -> None:
        """Attach a socket client; one that cannot resume gets the recent history."""
        history = None
        if resume is not None and self.frames.replay(*resume) is None:
            recent = await store.history(self.id, RESYNC_MESSAGES)
            history = [history_message(m) for m in recent]
        self.attach(client, resume, history, remote=remote)

    # --- frames -----------------------------------------------------------------------------

    def publish(self, model: type[p.HubFrameModel], **fields: Any) -> None:
        self.frames.publish(model, **fields)

    def reply(self, subscriber: Subscriber, model: type[p.HubFrameModel], **fields: Any) -> None:
        self.frames.reply(subscriber, model, **fields)

    def reject(self, subscriber: Subscriber, code: p.ErrorCode, content: str) -> None:
        """Answer a frame the client should not have sent, to that client only."""
        self.reply(subscriber, p.Error, code=code, content=content)

    # --- RunSink: what the turn engine and the dispatcher call ------------------------------

    def token(self, text: str) -> None:
        self.frames.token(text)

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
        self.waits.resolve(call_id)
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
        self.waits.resolve(call_id)
        self.publish(
            p.ApprovalResolved,
            call_id=call_id,
            decision=decision,
            decided_by=decided_by,
            arguments=arguments,
            feedback=feedback,
        )

    def awaiting(self, wait: Wait) -> None:
        self.waits.add(wait)

    async def _expire(self, wait: Wait) -> None:
        await expire(self, wait)

    def _warn(self, wait: Wait) -> None:
        self.publish(p.ApprovalExpiring, call_id=wait.call_id, expires_at=_iso(wait.deadline))

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

    # --- runs -------------------------------------------------------------------------------

    def submit(self, content: str, role: p.Role = "user", *, interrupt: bool = False) -> Work:
        """Run this message now, or after the turn in progress and the messages before it;
        with `interrupt`, cancel the turn in progress and run this one next."""
        work = Work(_new_id(), "message", role, content)
        if interrupt and self.cancel():
            self._queue.appendleft(work)
            self._kick()
            return work
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

    async def cancel_turn(self) -> bool:
        return self.cancel()

    def cancel(self) -> bool:
        """Stop the turn: the running one, or the one parked on calls. Queued messages stay."""
        if self._run is not None and not self._run.done():
            self._run.cancel()
            return True
        if self.waits:
            self._next_run = Work(_new_id(), "abandon")
            self._kick()
            return True
        return False

    async def close(self) -> None:
        """Stop everything on shutdown; a running turn still stores its partial answer."""
        self._queue.clear()
        self._next_run = None
        self.waits.clear()
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
        if self.waits or not self._queue:
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
            await store.mark_running(self.id, True)
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
        await store.mark_running(self.id, False)
        self.publish(
            p.RunFinished,
            run_id=work.run_id,
            reason=outcome.reason,
            message_id=outcome.message_id,
            waiting_for=self.waits.call_ids() if outcome.reason == "waiting" else [],
        )
        return outcome
