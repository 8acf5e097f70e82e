"""A live session: the asyncio driver around `SessionMachine`.

The machine decides; this object carries its effects out (the run task, cancellation) and owns
what needs a loop: deadline timers, the frame stream, the clients. `submit` is the one entry
point for every command from every transport, and the one place that turns every failure into
a typed `Refused` — an unexpected exception is logged and answered `internal_error`, never
raised to the transport. The session is the run's `RunSink`: it turns run events into frames.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

from opentelemetry.trace import NoOpTracer, Tracer

from agents.definitions import AGENTS, AgentSpec
from agents.ports import HistoryStore
from agents.run import results, steps
from agents.run.conversation import Conversation
from agents.run.engine import TurnEngine, TurnOutcome
from agents.run.state import open_waits
from agents.vocab import ErrorCode, RunState
from db.records import PlanStatus
from hub import protocol as p
from hub.fanout import FrameStream, Retention, Subscriber
from hub.metrics import HubMetrics, SessionMeter
from hub.ratelimit import RateLimit
from hub.session.cancel_scope import CancelScope
from hub.session.clients import AttachRole, Clients, ResumePoint
from hub.session.commands import Command, Outcome, Refused
from hub.session.errors import refusal_for
from hub.session.frames import frame_of
from hub.session.greeting import greet
from hub.session.machine import (
    CancelRun,
    Effect,
    Queued,
    SessionMachine,
    SessionState,
    StartRun,
    Work,
    new_run_id,
)
from hub.session.observer import SessionObserver
from hub.session.perform import perform
from hub.session.timers import Timers
from hub.tracing import SessionTraces
from hub.users import UserLimits
from hub.webhooks import ApprovalNotifier, UnwatchedApprovals
from tools.registry import TOOLS

log = logging.getLogger(__name__)
CLOSE_GRACE_SECONDS = 10.0  # for a run to store its end on shutdown; a longer write is stuck


class LiveSession:
    def __init__(
        self,
        session_id: str,
        current_agent: str,
        engine: TurnEngine,
        store: HistoryStore,
        *,
        on_quiet: Callable[[LiveSession], None] | None = None,
        approval_warning_seconds: float = 10.0,
        retention: Retention | None = None,
        frames_per_second: float = 20.0,
        max_replay_frames: int = 4096,
        owner: str | None = None,
        users: UserLimits | None = None,
        metrics: HubMetrics | None = None,
        notifier: ApprovalNotifier | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.id = session_id
        # Tells the user of approvals nobody watches (the webhook), once each.
        self._unwatched = UnwatchedApprovals(notifier, session_id, self._unwatched_approvals)
        self.meter = SessionMeter(metrics)
        self.owner = owner  # the user it belongs to; None: the internal key's
        self.users = users or UserLimits()
        traces = SessionTraces(tracer or NoOpTracer(), session_id)
        self._observer = SessionObserver(session_id, owner, self.users, self.meter, traces)
        self.current_agent = current_agent
        self.engine = engine
        self.store = store
        self.plans = engine.plans
        self.machine = SessionMachine()
        self.clients = Clients()
        self.frames = FrameStream(session_id, retention, self.clients.local)
        self.rate = RateLimit(frames_per_second)
        self._on_quiet = on_quiet
        self._max_replay = max_replay_frames
        self._streaming: list[str] = []  # the text of the assistant message being streamed
        self._run: asyncio.Task[TurnOutcome] | None = None
        self._cancel = CancelScope()  # the running one's
        self._timers = Timers(self._expire, self._warn, approval_warning_seconds)
        self._ctx = steps.RunContext(session_id, store, self)
        self.client_tools: Mapping[str, dict[str, Any]] = {}  # offered by a client (AG-UI)

    @property
    def conversation(self) -> Conversation:
        """The session's messages: every write goes through here, so its runs read them from
        memory."""
        return self._ctx.conversation

    @property
    def agent(self) -> AgentSpec:
        return AGENTS[self.current_agent]

    def offer_client_tools(self, tools: list[p.ClientTool]) -> None:
        """From now on the model may call these; the client that offered them runs them."""
        self.client_tools = {t.name: t.as_function() for t in tools if t.name not in TOOLS}

    @property
    def run_state(self) -> RunState:
        return self.machine.run_state

    @property
    def stopping(self) -> bool:
        return self.machine.state is SessionState.CLOSED

    @property
    def connections(self) -> int:
        return len(self.clients)

    @property
    def quiet(self) -> bool:
        return not self.clients and self.machine.state is SessionState.IDLE

    async def restore(self) -> None:
        """After a restart: take up the calls the stored turn is parked on, and the messages
        that were waiting behind it."""
        if self.plans is not None:
            self.plans.reload(self.id)
        waits, can_go_on = await open_waits(self.store, self.id)
        for wait in waits:
            self.emit(steps.Awaiting(wait))
        if can_go_on or (not waits and await self._plan_in_progress()):
            self.go_on()
        for queued in await self.store.queued_messages(self.id):
            role = cast(p.Role, queued.role)  # stored from a validated frame
            work = Work(new_run_id(), "message", role, queued.content, queued.id, queued.author)
            self._apply(self.machine.message(work))

    async def _plan_in_progress(self) -> bool:
        """An approved or running plan with no run: the hub stopped during it, so it goes on."""
        if self.plans is None:
            return False
        plan = await self.plans.unfinished(self.id)
        return plan is not None and plan.status in (PlanStatus.APPROVED, PlanStatus.RUNNING)

    # --- clients ----------------------------------------------------------------------------

    async def attach(
        self, client: Subscriber, role: AttachRole, resume: ResumePoint | None = None
    ) -> None:
        """The only way to add a client (`hub.session.greeting.greet` says what it gets)."""
        await greet(self, client, role, resume, self._max_replay)

    @property
    def streaming_text(self) -> str:
        """The assistant message being streamed, as far as it has come."""
        return "".join(self._streaming)

    def _unwatched_approvals(self) -> list[steps.Wait]:
        if self.clients.watching or self.stopping:
            return []
        return [w for w in self.machine.waits.values() if w.kind == "approval"]

    def detach(self, client: Subscriber) -> None:
        self.clients.remove(client)
        self._unwatched.look()
        self._check_quiet()

    def detach_remote(self, name: str) -> None:
        self.clients.remove_remote(name)
        self._unwatched.look()
        self._check_quiet()

    def _check_quiet(self) -> None:
        """Tell the owner when nobody listens and nothing runs, so it can let go of us."""
        # A parked turn stays in memory: its timers must fire on this object and no other.
        if self.quiet and self._on_quiet:
            self._on_quiet(self)

    # --- the one entry point ----------------------------------------------------------------

    async def submit(self, command: Command, origin: Subscriber | None = None) -> Outcome:
        """Carry out one command; refusals are also answered to `origin` as an error frame."""
        try:
            outcome: Outcome = await perform(self, command, origin)
        except Exception as exc:
            doing = f"this {command.frame.type} from {command.sender.name}"
            outcome = refusal_for(exc, self.id, doing)
        if isinstance(outcome, Refused) and origin is not None:
            self.reject(origin, outcome.code, outcome.message)
        return outcome

    # --- frames -----------------------------------------------------------------------------

    def publish(self, model: type[p.HubFrameModel], **fields: object) -> None:
        self.meter.frame(model)
        self.frames.publish(model, **fields)

    def reply(self, client: Subscriber, model: type[p.HubFrameModel], **fields: object) -> None:
        self.frames.reply(client, model, **fields)

    def reject(self, client: Subscriber, code: ErrorCode, content: str) -> None:
        """Answer a frame the client should not have sent, to that client only."""
        self.reply(client, p.Error, code=code, content=content)

    # --- RunSink ----------------------------------------------------------------------------

    def token(self, text: str) -> None:
        self._streaming.append(text)
        self.frames.token(text)
        self.meter.token()

    def emit(self, event: steps.RunEvent) -> None:
        """Note the event, apply what it changes in the session, then publish its frame."""
        self._observer.event(event, self.machine.waits)
        match event:
            case steps.MessageStored():
                self._streaming = []
            case steps.AgentSwitched(to_agent=to_agent):
                self.current_agent = to_agent
            case steps.ApprovalResolved(call_id=call_id) | steps.ToolFinished(call_id=call_id):
                self._timers.disarm(call_id)
                self.machine.answered(call_id)
            case steps.Awaiting(wait=wait):
                self.machine.awaiting(wait)
                self._timers.arm(wait)
                self._unwatched.look()
        if (frame := frame_of(event)) is not None:
            model, fields = frame
            self.publish(model, **fields)

    # --- runs -------------------------------------------------------------------------------

    async def enqueue(
        self,
        content: str,
        role: p.Role = "user",
        *,
        interrupt: bool = False,
        author: str | None = None,
    ) -> str:
        """Run this message now, or store it first if it has to wait: a crash loses nothing."""
        work = Work(new_run_id(), "message", role, content, author=author)
        if self.machine.state is not SessionState.IDLE or self.machine.queue:
            queued_id = await self.store.queue_message(self.id, role, content, author)
            work = dataclasses.replace(work, queued_id=queued_id)
        self._apply(self.machine.message(work, interrupt=interrupt))
        return work.run_id

    def go_on(self) -> str:
        """Continue the parked turn: something it waits for has been answered."""
        run_id, effects = self.machine.go_on()
        self._apply(effects)
        return run_id

    def answered(self, call_id: str) -> str:
        """A parked call was answered outside a run: take it off, and go on."""
        self._timers.disarm(call_id)
        self.machine.answered(call_id)
        return self.go_on()

    def cancel(self) -> bool:
        stopped, effects = self.machine.cancel()
        self._apply(effects)
        return stopped

    def cancel_and_go_on(self) -> bool:
        stopped, effects = self.machine.cancel_and_go_on()
        self._apply(effects)
        return stopped

    async def close(self) -> None:
        """Stop everything on shutdown; a running turn still stores its partial answer."""
        self._timers.clear()
        self._unwatched.close()
        run = self._run
        self._apply(self.machine.close())
        if run is not None and not (await asyncio.wait({run}, timeout=CLOSE_GRACE_SECONDS))[0]:
            log.warning(
                "session %s: the run was still storing after %ss; cut", self.id, CLOSE_GRACE_SECONDS
            )
            run.cancel()  # a store that hangs must not hang the hub's shutdown
            await asyncio.wait({run})
        self._observer.close()

    def _apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case StartRun(work=work):
                    self._cancel = CancelScope()
                    self._run = asyncio.create_task(self._turn(work), name=f"run-{self.id}")
                case CancelRun():
                    self._cancel.cancel()
                case Queued(position=position, content=content):
                    self.publish(p.MessageQueued, position=position, content=content)

    async def _turn(self, work: Work) -> TurnOutcome:
        kind = "message" if work.kind == "message" else "continue"
        self._observer.run_started(work, self.current_agent, kind)
        self.publish(p.RunStarted, run_id=work.run_id, agent=self.current_agent, kind=kind)
        outcome = TurnOutcome("error")
        try:
            await self.store.mark_running(self.id, True)
            engine, ctx = self.engine, self._ctx
            if work.kind == "message":
                await self.conversation.add(
                    work.role, work.content, agent=self.current_agent, author=work.author
                )
                if work.queued_id is not None:  # after adding: a crash between runs it twice
                    await self.store.unqueue_message(work.queued_id)
                outcome = await self._cancel.run(lambda: engine.advance(ctx, work.content))
            elif work.kind == "continue":
                outcome = await self._cancel.run(lambda: engine.advance(ctx))
            else:
                await engine.abandon(ctx)  # itself the cancel's work: never cut
                outcome = TurnOutcome("cancelled")
                if work.kind == "abandon_and_go_on":
                    outcome = await self._cancel.run(lambda: engine.advance(ctx))
        except Exception as exc:
            refused = refusal_for(exc, self.id, f"run {work.run_id}")
            self.emit(steps.RunFailed(refused.code, refused.message))
        await self._end_run(work, outcome)
        return outcome

    async def _end_run(self, work: Work, outcome: TurnOutcome) -> None:
        try:
            await self.store.mark_running(self.id, False)
        except Exception:
            log.exception("session %s: could not mark run %s ended", self.id, work.run_id)
        waiting = list(self.machine.waits) if outcome.reason == "waiting" else []
        self._observer.run_ended(self.current_agent, outcome.reason)
        self.publish(
            p.RunFinished,
            run_id=work.run_id,
            reason=outcome.reason,
            message_id=outcome.message_id,
            waiting_for=waiting,
        )
        self._run, self._streaming = None, []
        self._apply(self.machine.run_ended())
        self._check_quiet()

    # --- deadlines --------------------------------------------------------------------------

    async def _expire(self, wait: steps.Wait) -> None:
        if (event := await results.expire(self.store, wait)) is not None:
            self.emit(event)
            self.answered(wait.call_id)

    def _warn(self, wait: steps.Wait) -> None:
        if wait.deadline is not None:
            self.emit(steps.ApprovalExpiring(wait.call_id, wait.deadline))
