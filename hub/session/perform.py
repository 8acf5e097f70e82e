"""What each command does to a live session: one `match` over the client frames.

Called only by `LiveSession.submit`, which turns every `Refusal` raised here (and anything
unexpected) into the command's `Refused` answer.
"""

from __future__ import annotations

import logging
from typing import Protocol

from agents.ports import HistoryStore
from agents.run import approvals, plans, results
from agents.run.conversation import Conversation
from agents.run.handoff import hand_off
from agents.run.plans import PlanRunner
from agents.run.steps import Handoff, RunEvent
from agents.vocab import ErrorCode, Refusal
from hub import protocol as p
from hub.fanout import Subscriber
from hub.ratelimit import RateLimit
from hub.session.commands import Accepted, Command
from hub.session.machine import SessionMachine, SessionState
from hub.users import UserLimits
from tools.args import PlanStep

log = logging.getLogger(__name__)


class Acting(Protocol):
    """What a command may use of the live session (`LiveSession` is the one)."""

    id: str
    current_agent: str
    store: HistoryStore
    plans: PlanRunner | None
    machine: SessionMachine
    rate: RateLimit
    owner: str | None
    users: UserLimits

    @property
    def conversation(self) -> Conversation: ...

    def reply(self, client: Subscriber, model: type[p.HubFrameModel], **fields: object) -> None: ...

    def emit(self, event: RunEvent) -> None: ...

    async def enqueue(
        self,
        content: str,
        role: p.Role = "user",
        *,
        interrupt: bool = False,
        author: str | None = None,
    ) -> str: ...

    def go_on(self) -> str: ...

    def offer_client_tools(self, tools: list[p.ClientTool]) -> None: ...

    def answered(self, call_id: str) -> str: ...

    def cancel(self) -> bool: ...

    def cancel_and_go_on(self) -> bool: ...


async def perform(live: Acting, command: Command, origin: Subscriber | None) -> Accepted:
    frame, sender = command.frame, command.sender
    if isinstance(frame, p.Ping):
        if origin is not None:
            live.reply(origin, p.Pong, data=frame.data)
        return Accepted()
    if live.machine.state is SessionState.CLOSED:
        raise Refusal(ErrorCode.SESSION_CLOSED, "the hub is shutting this session down")
    if not isinstance(frame, p.Cancel):
        _check_rates(live, sender.user)
    match frame:
        case p.UserMessage(content=content, role=role, interrupt=interrupt, tools=tools):
            if tools is not None:
                live.offer_client_tools(tools)
            if (question := live.machine.question()) is not None:
                await results.take_result(live.store, live.id, question.call_id, content, None)
                return Accepted(run_id=live.answered(question.call_id))
            _check_running(live)
            run_id = await live.enqueue(content, role, interrupt=interrupt, author=sender.name)
            return Accepted(run_id=run_id)
        case p.ToolResult(call_id=call_id, result=result, error=error):
            await results.take_result(live.store, live.id, call_id, result, error)
            return Accepted(run_id=live.answered(call_id))
        case p.HitlDecision():
            decision = approvals.Decision(
                frame.call_id,
                frame.decision,
                frame.modified_arguments,
                frame.feedback,
                frame.always_allow,
                frame.allow_pattern,
                frame.always_deny,
            )
            decider = approvals.Decider(sender.role, sender.name)
            live.emit(await approvals.decide(live.store, live.id, decision, decider))
            return Accepted(run_id=live.go_on())
        case p.PlanDecision() if live.plans is not None:
            verdict = plans.PlanVerdict(
                frame.approval_request_id, frame.decision, frame.feedback, _steps(frame.steps)
            )
            live.emit(await plans.decide(live.store, live.plans.plans, live.id, verdict))
            return Accepted(run_id=live.answered(frame.approval_request_id))
        case p.PlanStepCommand(plan_id=plan_id, step=step, action=action) if live.plans:
            live.emit(await live.plans.end_step(live.id, plan_id, step, action))
            if action == "cancel":  # the step's turn stops; the plan goes on to the next
                return Accepted(stopped=live.cancel_and_go_on())
            return Accepted()
        case p.SwitchAgent(agent_type=agent, content=content, reason=reason):
            handoff = Handoff(agent, reason or "requested by the user", "user")
            if switched := await hand_off(
                live.store, live.conversation, live.current_agent, handoff
            ):
                live.emit(switched)
            return Accepted(run_id=await live.enqueue(content) if content else None)
        case p.Cancel():
            stopped = live.cancel()
            log.info(
                "session %s: cancel from %s (stopped a turn: %s)", live.id, sender.name, stopped
            )
            return Accepted(stopped=stopped)
    raise Refusal(ErrorCode.NOT_SUPPORTED, f"{frame.type} is not supported here")


def _steps(edited: list[p.EditedStep] | None) -> list[PlanStep] | None:
    if edited is None:
        return None
    return [PlanStep(title=e.title, agent=e.agent, description=e.description) for e in edited]


def _check_rates(live: Acting, user: str | None) -> None:
    if user is not None and not live.users.take_message(user):
        raise Refusal(
            ErrorCode.RATE_LIMITED,
            f"user {user} sends more than {live.users.messages_per_second:g} frames per second "
            "(AGENT_RUNTIME__MAX_MESSAGES_PER_SECOND_PER_USER); this one was dropped",
        )
    if not live.rate.take():
        raise Refusal(
            ErrorCode.RATE_LIMITED,
            f"more than {live.rate.per_second:g} frames per second on this session; "
            "this one was dropped",
        )


def _check_running(live: Acting) -> None:
    """A message that would start a run counts against its owner's running sessions."""
    owner = live.owner
    if owner is None or live.machine.state is not SessionState.IDLE:
        return  # behind a running turn it is queued, which costs no model call
    if not live.users.may_start(owner, live.id):
        raise Refusal(
            ErrorCode.RATE_LIMITED,
            f"user {owner} has {live.users.max_running_sessions} sessions running "
            "(AGENT_RUNTIME__MAX_RUNNING_SESSIONS_PER_USER); send this again when one ends",
        )
