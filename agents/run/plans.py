"""Plans: an agent proposes steps for specialists, the user decides, the steps run in order.

`propose` stores the plan and parks the turn on it; `decide` records the user's decision and
answers the proposing call. Once approved, `advance` — called by the engine wherever the
conversation may go on — starts each step as a turn of its agent (a handoff and the step's
brief as a message), takes the agent's last answer as the step's result, and when the steps are
done hands the results back to the proposer, who tells the user. Everything is in the store, so
a plan goes on after a decision from any client, a reconnect or a restart.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from agents.ports import HistoryStore, PlanStore, Snapshots
from agents.run.handoff import hand_off
from agents.run.steps import Handoff, OpenCall, PlanProposed, PlanUpdated, RunContext, Wait
from agents.vocab import ErrorCode, Refusal
from db.records import (
    MessageStatus,
    PlanStatus,
    StepStatus,
    StoredMessage,
    StoredPlan,
    StoredPlanStep,
    ToolCallStatus,
)
from tools.args import PlanStep, ProposePlanArgs
from tools.workspace.paths import ToolFailed

log = logging.getLogger(__name__)

PROPOSE = "propose_plan"
RESULT_CHARS = 2000  # of a step's answer, in the briefs of the steps after it
CONFLICT_RETRIES = 5
AUTHOR = "plan"  # the author of the messages the plan writes into the conversation
RESUMED = "The hub was restarted while you worked on this step. Go on with it."


class PlanConflict(Exception):
    """A plan's step could not be moved on: every try found it changed meanwhile."""


@dataclass(frozen=True, slots=True)
class PlanVerdict:
    plan_id: str
    decision: str  # approve | reject | modify
    feedback: str | None = None
    steps: list[PlanStep] | None = None  # with modify: the plan as it should run


class PlanRunner:
    def __init__(self, plans: PlanStore, snapshots: Snapshots | None = None) -> None:
        self.plans = plans
        self._snapshots = snapshots  # None: no hub workspace, so no file changes to show
        # Plans whose running step the user cancelled alone (`end_step`): the cancel that
        # follows ends that step's turn, not the plan.
        self._step_cancelled: set[str] = set()
        # Sessions known to have no unfinished plan: most turns are not part of one, and
        # asking the store at each answer cost two queries a turn. Only this runner starts a
        # plan in a session this process runs; `reload` forgets what a restore cannot trust.
        self._planless: set[str] = set()

    async def unfinished(self, session_id: str) -> StoredPlan | None:
        """The session's plan that is proposed, approved or running."""
        if session_id in self._planless:
            return None
        plan = await self.plans.unfinished(session_id)
        if plan is None:
            self._planless.add(session_id)
        return plan

    def reload(self, session_id: str) -> None:
        """The session is (re)loaded: another process may have planned in it meanwhile."""
        self._planless.discard(session_id)

    async def propose(self, ctx: RunContext, call: OpenCall, args: ProposePlanArgs) -> Wait | str:
        """Store the plan and park the turn on it; the refusal for the model instead while
        another plan runs. A proposal not yet decided gives way to the new one."""
        unfinished = await self.unfinished(ctx.session_id)
        if unfinished is not None and unfinished.status is not PlanStatus.PROPOSED:
            return f"the plan {unfinished.title!r} is in progress: do your part of it instead"
        if unfinished is not None:
            await self._withdraw(ctx, unfinished)
        steps = [StoredPlanStep(s.title, s.agent, s.description) for s in args.steps]
        arguments = args.model_dump()
        await ctx.store.create_tool_call(
            call.call_id, ctx.session_id, call.agent, PROPOSE, arguments
        )
        plan = await self.plans.create(call.call_id, ctx.session_id, call.agent, args.title, steps)
        self._planless.discard(ctx.session_id)
        ctx.sink.emit(PlanProposed(plan))
        return Wait(call.call_id, "plan", PROPOSE, arguments, call.agent)

    async def _withdraw(self, ctx: RunContext, plan: StoredPlan) -> None:
        """A proposal replaced by a later one: its call ends, so the turn waits on one only."""
        cancelled = [dataclasses.replace(s, status=StepStatus.CANCELLED) for s in plan.steps]
        if (updated := await self.plans.update(plan, PlanStatus.CANCELLED, cancelled)) is None:
            return
        why = "replaced by a later proposal"
        await ctx.store.finish_tool_call(plan.id, ToolCallStatus.CANCELLED, None, why)
        ctx.sink.emit(PlanUpdated(updated))

    async def advance(self, ctx: RunContext, history: list[StoredMessage]) -> bool:
        """Start or end a step if the conversation is where one starts or ends; True if it
        changed the conversation (the next model call is another agent's, on a new brief).
        A change made meanwhile by a command (a skip) is read again, and the move retried."""
        for _ in range(CONFLICT_RETRIES):
            if (moved := await self._advance(ctx, history)) is not None:
                return moved
        raise PlanConflict(f"the plan of session {ctx.session_id} kept changing under its run")

    async def _advance(self, ctx: RunContext, history: list[StoredMessage]) -> bool | None:
        """None: the plan changed since it was read."""
        plan = await self.unfinished(ctx.session_id)
        if plan is None or plan.status is PlanStatus.PROPOSED:
            return False
        running = plan.step_in(StepStatus.RUNNING)
        if running is not None:
            last = history[-1] if history else None
            if last is None or last.role != "assistant":
                return False  # the step's agent is at work
            if last.status is not MessageStatus.COMPLETE:  # cut off by a stop of the hub
                await ctx.conversation.add(
                    "user", RESUMED, details={"plan": plan.id}, author=AUTHOR
                )
                return True
            after = await self._snapshot(ctx, plan, running, "end")
            plan = await self._set_step(plan, running, StepStatus.DONE, last.content, after=after)
            if plan is None:
                return None
        return await self._start_next(ctx, plan)

    async def stopped(self, ctx: RunContext, cancelled: bool) -> None:
        """The turn ended in an error or a cancel: so does the plan in progress."""
        plan = await self.unfinished(ctx.session_id)
        if plan is None or (plan.status is PlanStatus.PROPOSED and not cancelled):
            return
        if cancelled and plan.id in self._step_cancelled:
            self._step_cancelled.discard(plan.id)
            return  # its running step was cancelled alone: the plan goes on
        ended = StepStatus.CANCELLED if cancelled else StepStatus.FAILED
        steps = [
            dataclasses.replace(s, status=ended if s.status is StepStatus.RUNNING else s.status)
            for s in plan.steps
        ]
        steps = [
            dataclasses.replace(s, status=StepStatus.CANCELLED)
            if s.status is StepStatus.PENDING
            else s
            for s in steps
        ]
        status = PlanStatus.CANCELLED if cancelled else PlanStatus.FAILED
        if (updated := await self.plans.update(plan, status, steps)) is not None:
            ctx.sink.emit(PlanUpdated(updated))

    async def end_step(self, session_id: str, plan_id: str, index: int, action: str) -> PlanUpdated:
        """Skip a step not started yet, or mark the running one cancelled (the caller stops its
        turn); either way the plan goes on with the step after it."""
        plan = await self.plans.get(plan_id)
        if plan is None or plan.session_id != session_id:
            raise Refusal(ErrorCode.UNKNOWN_CALL, f"no plan {plan_id!r} in this session")
        wanted, ended = (
            (StepStatus.RUNNING, StepStatus.CANCELLED)
            if action == "cancel"
            else (StepStatus.PENDING, StepStatus.SKIPPED)
        )
        live = plan.status in (PlanStatus.APPROVED, PlanStatus.RUNNING)
        if not live or index >= len(plan.steps) or plan.steps[index].status is not wanted:
            state = plan.steps[index].status if index < len(plan.steps) else "missing"
            why = (
                f"step {index} of plan {plan_id!r} is {state}; only a {wanted} step can be {ended}"
            )
            raise Refusal(ErrorCode.INVALID_DECISION, why)
        steps = list(plan.steps)
        steps[index] = dataclasses.replace(steps[index], status=ended)
        if (updated := await self.plans.update(plan, plan.status, steps)) is None:
            raise Refusal(
                ErrorCode.ALREADY_DECIDED, f"plan {plan_id!r} changed meanwhile; try again"
            )
        if action == "cancel":
            self._step_cancelled.add(plan.id)
        return PlanUpdated(updated)

    async def _start_next(self, ctx: RunContext, plan: StoredPlan) -> bool | None:
        index = plan.step_in(StepStatus.PENDING)
        if index is None:
            return await self._finish(ctx, plan)
        before = await self._snapshot(ctx, plan, index, "start")
        updated = await self._set_step(
            plan, index, StepStatus.RUNNING, None, PlanStatus.RUNNING, before=before
        )
        if updated is None:
            return None
        ctx.sink.emit(PlanUpdated(updated))
        step = updated.steps[index]
        why = f"step {index + 1} of the plan {updated.title!r}: {step.title}"
        await self._hand_to(ctx, step.agent, why)
        brief = _brief(updated, index)
        await ctx.conversation.add("user", brief, details={"plan": plan.id, "step": index},
                                   author=AUTHOR)  # fmt: skip
        return True

    async def _finish(self, ctx: RunContext, plan: StoredPlan) -> bool | None:
        done = await self.plans.update(plan, PlanStatus.DONE)
        if done is None:
            return None
        ctx.sink.emit(PlanUpdated(done))
        await self._hand_to(ctx, done.agent, f"the plan {done.title!r} is done")
        lines = [f"The plan {done.title!r} is done. What each step reported:"]
        lines += [_outcome(i, s, RESULT_CHARS) for i, s in enumerate(done.steps)]
        lines.append("Tell the user what was done, briefly.")
        await ctx.conversation.add("user", "\n".join(lines), details={"plan": done.id},
                                   author=AUTHOR)  # fmt: skip
        return True

    async def _set_step(
        self,
        plan: StoredPlan,
        index: int,
        status: StepStatus,
        result: str | None,
        plan_status: PlanStatus | None = None,
        *,
        before: str | None = None,
        after: str | None = None,
    ) -> StoredPlan | None:
        steps = list(plan.steps)
        step = dataclasses.replace(steps[index], status=status, result=result)
        if before is not None:
            step = dataclasses.replace(step, checkpoint_before=before)
        if after is not None:
            step = dataclasses.replace(step, checkpoint_after=after)
        steps[index] = step
        return await self.plans.update(plan, plan_status or plan.status, steps)

    async def _snapshot(
        self, ctx: RunContext, plan: StoredPlan, index: int, moment: str
    ) -> str | None:
        """A checkpoint of the workspace at a step's start or end; a failed one costs the
        step's diff, never the plan."""
        if self._snapshots is None:
            return None
        label = f"plan {plan.title!r}, {moment} of step {index + 1}: {plan.steps[index].title}"
        try:
            return (await self._snapshots.take(ctx.session_id, label)).id
        except ToolFailed as exc:
            log.warning("session %s: no checkpoint for the plan's step: %s", ctx.session_id, exc)
            return None

    async def _hand_to(self, ctx: RunContext, agent: str, why: str) -> None:
        handoff = Handoff(agent, why, "plan")
        if switched := await hand_off(ctx.store, ctx.conversation, ctx.sink.agent.name, handoff):
            ctx.sink.emit(switched)


async def decide(
    store: HistoryStore, plans: PlanStore, session_id: str, verdict: PlanVerdict
) -> PlanUpdated:
    """Record the user's decision on a proposed plan and answer the call that proposed it; the
    caller publishes the event and lets the turn go on. The first decision wins."""
    plan = await plans.get(verdict.plan_id)
    if plan is None or plan.session_id != session_id:
        raise Refusal(ErrorCode.UNKNOWN_CALL, f"no plan {verdict.plan_id!r} in this session")
    if plan.status is not PlanStatus.PROPOSED:
        raise Refusal(ErrorCode.ALREADY_DECIDED, f"plan {plan.id!r} is already {plan.status}")
    feedback = verdict.feedback
    if verdict.decision == "approve" or (verdict.decision == "modify" and verdict.steps):
        steps = None
        if verdict.steps:
            steps = [StoredPlanStep(s.title, s.agent, s.description) for s in verdict.steps]
        updated = await plans.update(plan, PlanStatus.APPROVED, steps, feedback)
        status, content = ToolCallStatus.DONE, _approved(updated or plan, steps is not None)
    else:
        updated = await plans.update(plan, PlanStatus.REJECTED, None, feedback)
        said = feedback or "no reason given"
        status = ToolCallStatus.REJECTED
        content = (  # the model reads it as "error: …"
            f"the user asks for changes to the plan: {said}. Propose it again, changed."
            if verdict.decision == "modify"
            else f"the user rejected the plan: {said}"
        )
    if updated is None:
        raise Refusal(ErrorCode.ALREADY_DECIDED, f"plan {plan.id!r} was decided meanwhile")
    if status is ToolCallStatus.REJECTED:
        await store.finish_tool_call(plan.id, status, None, content)
    else:
        await store.finish_tool_call(plan.id, status, content, None)
    return PlanUpdated(updated)


def summary(plan_title: str, steps: list[dict[str, str]]) -> str:
    """The plan as text, for clients that show only the approval's `content`."""
    lines = [f"Plan: {plan_title}"]
    lines += [
        f"{i + 1}. {s['title']} ({s['agent']}): {s['description']}" for i, s in enumerate(steps)
    ]
    return "\n".join(lines)


def _approved(plan: StoredPlan, edited: bool) -> str:
    how = "approved the plan as edited" if edited else "approved the plan"
    steps = "; ".join(f"{i + 1}. {s.title} ({s.agent})" for i, s in enumerate(plan.steps))
    return f"The user {how}. Its steps now run in order, each by its agent: {steps}."


def _brief(plan: StoredPlan, index: int) -> str:
    step = plan.steps[index]
    lines = [
        f"Step {index + 1} of {len(plan.steps)} of the plan {plan.title!r}: {step.title}",
        step.description,
    ]
    before = [_outcome(i, s, RESULT_CHARS) for i, s in enumerate(plan.steps[:index])]
    if before:
        lines += ["", "The steps before:", *before]
    lines += ["", "Do this step only, then answer with what you did."]
    return "\n".join(lines)


def _outcome(index: int, step: StoredPlanStep, limit: int) -> str:
    said = (step.result or "").strip()
    if len(said) > limit:
        said = said[:limit] + " […]"
    reported = f": {said}" if said else ""
    return f"{index + 1}. {step.title} ({step.agent}) — {step.status}{reported}"
