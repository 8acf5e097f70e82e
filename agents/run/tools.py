"""Tool calls, from the model's request to the answer the model reads.

Every call is settled from what the store says about it (`agents.run.state`), so a turn can
stop at any call that needs a human or the IDE, and go on later — after a decision, a result,
a reconnect or a restart of the hub — by settling the same calls again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.definitions import AGENTS
from agents.run import approvals, state
from agents.run.handoff import hand_off
from agents.run.mounted import MountedCalls
from agents.run.outcome import finish, tell
from agents.run.plans import PlanRunner
from agents.run.steps import (
    Awaiting,
    FinalOutput,
    Handoff,
    Interruption,
    MessageEnded,
    MessageStored,
    OpenCall,
    QuestionAsked,
    Ready,
    RunAgain,
    RunContext,
    Settled,
    ToolAnnounced,
    ToolStarted,
    Unseen,
    Wait,
    Waiting,
)
from db.records import ToolCallStatus
from tools import args as a
from tools.approval import ToolPolicy
from tools.diffs import write_diff
from tools.mcp import PREFIX as MOUNTED
from tools.permissions import WritePolicy, refusal
from tools.registry import TOOLS, InvalidArguments, Side, parse_arguments
from tools.workspace import ToolFailed, WorkspaceExecutor

Settling = Interruption | FinalOutput | None  # None: the call is answered


class ToolRunner:
    def __init__(
        self,
        policies: Mapping[str, ToolPolicy],
        tool_timeout: float,
        workspace: WorkspaceExecutor | None = None,
        mounted: MountedCalls | None = None,
        plans: PlanRunner | None = None,
    ) -> None:
        self._policies = policies
        self._tool_timeout = tool_timeout
        self._workspace = workspace
        self._mounted = mounted
        self._plans = plans

    def mounted_functions(self, agent: str) -> list[dict[str, Any]]:
        """The MCP servers' tools offered to `agent`, beside its own."""
        return self._mounted.functions(agent) if self._mounted is not None else []

    async def settle(
        self, ctx: RunContext, calls: tuple[OpenCall, ...]
    ) -> Interruption | FinalOutput | RunAgain:
        """Take every call as far as it goes now — several may be in flight at once, as the
        original protocol allows — and interrupt the turn on those that wait."""
        waiting: list[str] = []
        for call in calls:
            match await self._advance(ctx, call):
                case FinalOutput() as final:
                    return final
                case Interruption():
                    waiting.append(call.call_id)
        return Interruption(tuple(waiting)) if waiting else RunAgain()

    async def abandon(self, ctx: RunContext, calls: tuple[OpenCall, ...]) -> None:
        """Answer every open call as cancelled, so the conversation stays valid."""
        for call in calls:
            if (resolved := await approvals.cancel(ctx.store, call.call_id)) is not None:
                ctx.sink.emit(resolved)
            await finish(ctx, call, "cancelled", "cancelled by the user")

    async def _advance(self, ctx: RunContext, call: OpenCall) -> Settling:
        record, where = await state.load(ctx.store, call.call_id)
        if isinstance(where, Unseen | Ready):
            ctx.sink.emit(ToolStarted(call.call_id, call.tool_name, call.agent))
        match where:
            case Unseen():
                return await self._first_sight(ctx, call)
            case Waiting(kind="tool_result", deadline=deadline) if _past(deadline):
                content = f"error: the IDE sent no result within {self._tool_timeout:g}s"
                await finish(ctx, call, "expired", content)
                return None
            case Waiting(kind=kind, deadline=deadline):
                arguments = record.arguments if record is not None else call.arguments
                return _park(
                    ctx, Wait(call.call_id, kind, call.tool_name, arguments, call.agent, deadline)
                )
            case Ready(arguments=arguments, resend=resend) if call.tool_name in TOOLS:
                args = parse_arguments(TOOLS[call.tool_name], arguments)
                return await self._execute(ctx, call, args, resend=resend)
            case Ready(arguments=arguments):
                return await self._run_other(ctx, call, arguments)
            case Settled(status=status, content=content):
                if record is not None and record.status is ToolCallStatus.PENDING:
                    await finish(ctx, call, status, content)  # decided, not yet ended
                else:
                    await tell(ctx, call, status, content)
                return None

    async def _first_sight(self, ctx: RunContext, call: OpenCall) -> Settling:
        spec = TOOLS.get(call.tool_name)
        if spec is None and self._mounted and (tool := self._mounted.find(call)):
            return await self._mounted.first_sight(ctx, call, tool)
        if spec is None and call.tool_name in ctx.sink.client_tools:
            await ctx.store.create_tool_call(
                call.call_id, ctx.session_id, call.agent, call.tool_name, call.arguments
            )
            return await self._send_to_client(ctx, call, call.arguments, resend=True)
        if spec is None and not call.tool_name:
            why = "the tool call names no tool or is not valid JSON"
            await finish(ctx, call, "failed", f"error: {why}")
            return None
        if spec is None:
            gone = self._mounted.missing(call) if self._mounted else None
            why = gone or f"unknown tool {call.tool_name!r}; the tools are: {', '.join(TOOLS)}"
            await finish(ctx, call, "refused", f"error: {why}")
            return None
        try:
            args = parse_arguments(spec, call.arguments)
        except InvalidArguments as exc:
            await finish(ctx, call, "failed", f"error: {exc}")
            return None
        if (refused := refusal(AGENTS[call.agent], spec.name, args)) is not None:
            await finish(ctx, call, "refused", f"error: refused: {refused}")
            return None
        if spec.side is Side.HUB:
            return await self._run_hub_tool(ctx, call, args)
        if (rule := await approvals.denied(ctx.store, ctx.session_id, spec.name, args)) is not None:
            why = f"a deny rule of this session matches ({spec.name} {rule.pattern!r})"
            await finish(ctx, call, "refused", f"error: refused: {why}")
            return None
        if self._workspace is not None:
            try:
                self._workspace.check(args)
            except ToolFailed as exc:
                await finish(ctx, call, "failed", f"error: {exc}")
                return None
        arguments = args.model_dump(exclude_unset=True)
        await ctx.store.create_tool_call(
            call.call_id, ctx.session_id, call.agent, spec.name, arguments
        )
        policy = self._policies.get(spec.name)
        if policy and await approvals.needed(ctx.store, policy, ctx.session_id, spec.name, args):
            diff = await self._diff(ctx, args)
            events = await approvals.ask(ctx.store, ctx.session_id, call, arguments, policy, diff)
            for event in events:
                ctx.sink.emit(event)
            return Interruption((call.call_id,))
        return await self._execute(ctx, call, args, resend=True)

    async def _execute(
        self, ctx: RunContext, call: OpenCall, args: a.ToolArgs, *, resend: bool
    ) -> Settling:
        if self._workspace is not None:
            try:
                writable = AGENTS[call.agent].write_policy is WritePolicy.ANY
                text = await self._workspace.run_call(
                    ctx.session_id, call.call_id, args, writable=writable
                )
            except ToolFailed as exc:
                await finish(ctx, call, "failed", f"error: {exc}")
                return None
            await finish(ctx, call, "done", text)
            return None
        return await self._send_to_client(ctx, call, args.model_dump(exclude_unset=True), resend)

    async def _run_other(
        self, ctx: RunContext, call: OpenCall, arguments: dict[str, Any]
    ) -> Settling:
        """A decided call of a tool that is not built in: a mounted one (as at first sight), or
        a client's own."""
        if self._mounted is not None and call.tool_name.startswith(MOUNTED):
            await self._mounted.run(ctx, call, arguments)
        elif call.tool_name in ctx.sink.client_tools:
            return await self._send_to_client(ctx, call, arguments, resend=True)
        else:
            await finish(ctx, call, "failed", f"error: {call.tool_name!r} is no longer offered")
        return None

    async def _send_to_client(
        self, ctx: RunContext, call: OpenCall, arguments: dict[str, Any], resend: bool
    ) -> Settling:
        """The IDE (or the client that offered the tool) runs the call; the turn waits."""
        deadline = datetime.now(UTC) + timedelta(seconds=self._tool_timeout)
        if not await ctx.store.dispatch_tool_call(call.call_id, arguments, deadline):
            return await self._advance(ctx, call)  # its result came meanwhile
        if resend:
            ctx.sink.emit(ToolAnnounced(call.call_id, call.tool_name, arguments, call.agent, False))
        wait = Wait(call.call_id, "tool_result", call.tool_name, arguments, call.agent, deadline)
        return _park(ctx, wait)

    async def _run_hub_tool(self, ctx: RunContext, call: OpenCall, args: a.ToolArgs) -> Settling:
        match args:
            case a.SwitchModeArgs(mode=mode, reason=reason) if mode in AGENTS:
                handoff = Handoff(mode, reason, "agent")
                agent = ctx.sink.agent.name
                if switched := await hand_off(ctx.store, ctx.conversation, agent, handoff):
                    ctx.sink.emit(switched)
                content = f"switched to the {mode} agent: {AGENTS[mode].description}"
                await finish(ctx, call, "done", content)
                return None
            case a.SwitchModeArgs(mode=mode):
                content = f"error: unknown mode {mode!r}; the modes are: {', '.join(AGENTS)}"
                await finish(ctx, call, "failed", content)
                return None
            case a.AttemptCompletionArgs(result=result):
                await finish(ctx, call, "done", "the result was shown")
                return await _final_answer(ctx, result)
            case a.AskFollowupQuestionArgs(question=question, options=options):
                arguments = args.model_dump(exclude_unset=True)
                await ctx.store.create_tool_call(
                    call.call_id, ctx.session_id, call.agent, call.tool_name, arguments
                )
                ctx.sink.emit(QuestionAsked(call.call_id, question, options))
                wait = Wait(call.call_id, "answer", call.tool_name, arguments, call.agent)
                return _park(ctx, wait)
            case a.ProposePlanArgs() if self._plans is not None:
                proposed = await self._plans.propose(ctx, call, args)
                if isinstance(proposed, str):
                    await finish(ctx, call, "refused", f"error: refused: {proposed}")
                    return None
                return _park(ctx, proposed)
            case a.ProposePlanArgs():
                await finish(ctx, call, "failed", "error: this hub runs no plans")
                return None
        raise AssertionError(f"no hub-side handler for {call.tool_name}")

    async def _diff(self, ctx: RunContext, args: a.ToolArgs) -> str | None:
        if not isinstance(args, a.WriteFileArgs):
            return None
        # The file as the hub's workspace has it, or as the IDE last sent it in full.
        if self._workspace is not None:
            current = await self._workspace.current_text(args.path)
        else:
            current = await ctx.store.last_full_read(ctx.session_id, args.path)
        return None if current is None else write_diff(args.path, current, args.content)


def _past(deadline: datetime | None) -> bool:
    return deadline is not None and deadline <= datetime.now(UTC)


def _park(ctx: RunContext, wait: Wait) -> Interruption:
    ctx.sink.emit(Awaiting(wait))
    return Interruption((wait.call_id,))


async def _final_answer(ctx: RunContext, result: str) -> FinalOutput:
    """attempt_completion: the result is the turn's final answer."""
    ctx.sink.token(result)
    ctx.sink.emit(MessageEnded())
    message = await ctx.conversation.add("assistant", result, agent=ctx.sink.agent.name)
    ctx.sink.emit(MessageStored(message.id))
    return FinalOutput(message.id)
