"""The turn engine: one loop that runs every agent, whatever the transport.

Each step ends in a typed `NextStep`, and one `match` decides what follows: hand off to another
agent, settle tool calls, stop on an interruption, finish, or run the model again. The state of
a turn lives in the store, never in this object: a turn parked on a call (an approval, an IDE
result, a user's answer) goes on later by calling `advance` again. Nothing is stored per token.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from agents.llm import LLMError, ToolCallFragment
from agents.ports import ChatModel, TokenCounter
from agents.routing import Router
from agents.run.accounting import Accounting, RunUsage
from agents.run.budget import ContextBudget, ContextTooLong
from agents.run.draft import Draft
from agents.run.handoff import hand_off
from agents.run.history import model_messages, open_calls
from agents.run.plans import PlanRunner
from agents.run.steps import (
    FinalOutput,
    Handoff,
    Interruption,
    MessageEnded,
    MessageStored,
    NextStep,
    RunAgain,
    RunContext,
    RunFailed,
    RunTools,
    StepFailed,
)
from agents.run.textcalls import split_calls
from agents.run.tools import ToolRunner
from agents.usage import Usage
from agents.vocab import ErrorCode, RunEndReason, ToolCallFormat
from db.records import MessageStatus, StoredMessage
from tools.registry import openai_tools

CALL_ID_MAX = 128  # what a tool call record's id holds


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    reason: RunEndReason
    message_id: int | None = None
    waiting_for: tuple[str, ...] = ()


@dataclass(slots=True)
class _Progress:
    """What the run produced so far; kept so a cut or a cancel can store the partial answer."""

    draft: Draft | None = None  # the message of the model call in progress
    calls: dict[int, ToolCallFragment] = field(default_factory=dict)
    model_calls: int = 0
    last_stored: int | None = None
    usage: Usage | None = None  # what the model call in progress reported
    run_usage: RunUsage = field(default_factory=RunUsage)

    def add_call_piece(self, piece: ToolCallFragment) -> None:
        known = self.calls.get(piece.index)
        if known is None:
            self.calls[piece.index] = ToolCallFragment(
                piece.index, piece.call_id, piece.name, piece.arguments
            )
            return
        known.call_id = known.call_id or piece.call_id
        known.name = known.name or piece.name
        known.arguments += piece.arguments

    def tool_calls(self) -> list[dict[str, Any]]:
        """The calls in OpenAI's message format, as stored and sent back to the model."""
        return [
            {
                "id": frag.call_id or f"call_{frag.index}",
                "type": "function",
                "function": {"name": frag.name or "", "arguments": frag.arguments or "{}"},
            }
            for _, frag in sorted(self.calls.items())
        ]

    def next_model_call(self, draft: Draft) -> None:
        self.draft, self.calls, self.usage = draft, {}, None
        self.model_calls += 1

    @property
    def has_text(self) -> bool:
        return self.draft is not None and bool(self.draft.text)


class TurnEngine:
    def __init__(
        self,
        model: ChatModel,
        router: Router,
        tools: ToolRunner,
        max_steps: int = 8,
        model_call_seconds: float | None = None,
        checkpoint_seconds: float | None = 1.0,
        max_tokens: int | None = None,
        tool_format: ToolCallFormat = "native",
        context_tokens: int | None = None,
        tokens: TokenCounter | None = None,
        accounting: Accounting | None = None,
        plans: PlanRunner | None = None,
    ) -> None:
        self._model = model
        self._router = router
        self._tools = tools
        self._max_steps = max_steps
        self._model_call_seconds = model_call_seconds  # the whole stream, not one read
        self._checkpoint_seconds = checkpoint_seconds
        self._max_tokens = max_tokens  # per model call
        self._tool_format = tool_format
        self._tokens = tokens  # the server's tokenizer, to check what the budget estimated
        self._accounting = accounting  # None: usage is neither stored nor reported
        self.plans = plans  # None: propose_plan is answered with an error
        self._budget = (
            None if context_tokens is None else ContextBudget(context_tokens, max_tokens or 0)
        )

    async def advance(self, ctx: RunContext, user_text: str | None = None) -> TurnOutcome:
        """Take the turn as far as it can go. `user_text`: the turn starts with this message
        (already stored); an agent that routes requests hands it off first."""
        progress = _Progress()
        try:
            outcome = await self._advance(ctx, progress, user_text)
        except Exception:
            if self.plans is not None:  # a plan must not stay running behind a dead run
                await self.plans.stopped(ctx, cancelled=False)
            raise
        if self.plans is not None and outcome.reason == "error":
            await self.plans.stopped(ctx, cancelled=False)
        if self._accounting is not None:
            self._accounting.run_ended(ctx, progress.run_usage)
        return outcome

    async def _advance(
        self, ctx: RunContext, progress: _Progress, user_text: str | None
    ) -> TurnOutcome:
        try:
            if user_text is not None and ctx.sink.agent.routes_requests:
                step: NextStep = await self._route(ctx, user_text, progress)
            else:
                step = await self._next(ctx, progress)
            while True:
                match step:
                    case Handoff():
                        agent = ctx.sink.agent.name
                        if switched := await hand_off(ctx.store, ctx.conversation, agent, step):
                            ctx.sink.emit(switched)
                        step = await self._next(ctx, progress)
                    case RunTools(calls=calls):
                        step = await self._tools.settle(ctx, calls)
                    case RunAgain():
                        step = await self._next(ctx, progress)
                    case Interruption(call_ids=call_ids):
                        return TurnOutcome("waiting", progress.last_stored, call_ids)
                    case FinalOutput(message_id=message_id):
                        history = await ctx.conversation.recent()
                        if not await self._plan_moved(ctx, progress, history):
                            return TurnOutcome("completed", message_id)
                        step = await self._next(ctx, progress)  # the plan's next step
                    case StepFailed(code=code, message=message):
                        ctx.sink.emit(RunFailed(code, message))
                        return TurnOutcome("error", progress.last_stored)
        except LLMError as exc:
            await self._account_cut(ctx, progress)
            stored = await _store_partial(ctx, progress, MessageStatus.INTERRUPTED)
            ctx.sink.emit(MessageEnded())
            ctx.sink.emit(RunFailed(ErrorCode.LLM_ERROR, str(exc)))
            return TurnOutcome("error", stored or progress.last_stored)
        except asyncio.CancelledError:
            # The run task belongs to the session alone: a cancel is an outcome to record.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await self._account_cut(ctx, progress)
            stored = await _store_partial(ctx, progress, MessageStatus.CANCELLED)
            if progress.has_text:
                ctx.sink.emit(MessageEnded())
            await self.abandon(ctx)
            return TurnOutcome("cancelled", stored or progress.last_stored)
        finally:
            if progress.draft is not None:
                progress.draft.stop()

    async def abandon(self, ctx: RunContext) -> None:
        """Answer the turn's open calls as cancelled (a cancel while parked or running)."""
        history = await ctx.conversation.recent()
        await self._tools.abandon(ctx, open_calls(history))
        if self.plans is not None and not ctx.sink.stopping:  # a stop of the hub is no cancel
            await self.plans.stopped(ctx, cancelled=True)

    async def _account(
        self, ctx: RunContext, progress: _Progress, agent: str, purpose: str, usage: Usage | None
    ) -> None:
        if self._accounting is not None:
            await self._accounting.model_call(ctx, progress.run_usage, agent, purpose, usage)

    async def _account_cut(self, ctx: RunContext, progress: _Progress) -> None:
        """A model call that failed or was cancelled part-way reported no usage."""
        if progress.draft is not None:
            await self._account(ctx, progress, progress.draft.agent, "answer", None)

    async def _route(
        self, ctx: RunContext, user_text: str, progress: _Progress
    ) -> Handoff | RunAgain:
        history = await ctx.conversation.recent()
        context = model_messages(ctx.sink.agent, history)[1:-1]
        decision = await self._router.route(user_text, context)
        if decision.asked_model:
            await self._account(ctx, progress, ctx.sink.agent.name, "routing", decision.usage)
        if decision.plan and self.plans is not None and "propose_plan" in ctx.sink.agent.tools:
            return RunAgain()  # the router's own agent takes the request, to plan it
        return Handoff(decision.agent, decision.reason, decision.method, decision.confidence)

    async def _next(self, ctx: RunContext, progress: _Progress) -> NextStep:
        """What the stored conversation asks for next: its open calls, nothing (the agent had
        the last word), or another model call."""
        history = await ctx.conversation.recent()
        if calls := open_calls(history):
            return RunTools(calls)
        if await self._plan_moved(ctx, progress, history):
            history = await ctx.conversation.recent()  # a step's brief, for its agent
        if history and history[-1].role == "assistant":
            return FinalOutput(history[-1].id)
        if progress.model_calls == self._max_steps:
            message = f"stopped after {progress.model_calls} model calls in one turn"
            return StepFailed(ErrorCode.MAX_STEPS, message)
        return await self._call_model(ctx, progress, history)

    async def _plan_moved(
        self, ctx: RunContext, progress: _Progress, history: list[StoredMessage]
    ) -> bool:
        """A plan's step started or ended here (`PlanRunner.advance`)."""
        if self.plans is None or not await self.plans.advance(ctx, history):
            return False
        progress.model_calls = 0  # each step has the model calls of a turn of its own
        return True

    async def _call_model(
        self, ctx: RunContext, progress: _Progress, history: list[StoredMessage]
    ) -> NextStep:
        agent = ctx.sink.agent
        text_calls = self._tool_format == "text"
        # Beside the agent's own tools: the MCP servers' and the client's (AG-UI frontend tools).
        extra = [*self._tools.mounted_functions(agent.name), *ctx.sink.client_tools.values()]
        tools = None if text_calls else [*openai_tools(agent.tools), *extra]
        messages = model_messages(agent, history, self._tool_format, extra)
        if self._budget is not None:
            try:
                messages = await self._fit(self._budget, messages, tools)
            except ContextTooLong as exc:
                return StepFailed(ErrorCode.CONTEXT_TOO_LONG, str(exc))
        draft = Draft(ctx, agent.name, self._checkpoint_seconds)
        progress.next_model_call(draft)
        try:
            async with asyncio.timeout(self._model_call_seconds):
                reply = self._model.stream(messages, tools, self._max_tokens)
                async for item in split_calls(reply) if text_calls else reply:
                    if type(item) is str:
                        ctx.sink.token(item)
                        draft.add(item)
                    elif isinstance(item, ToolCallFragment):
                        progress.add_call_piece(item)
                    elif isinstance(item, Usage):
                        progress.usage = item
        except TimeoutError:
            raise LLMError(
                f"the model call took longer than {self._model_call_seconds:g}s "
                "(AGENT_RUNTIME__LLM_TIMEOUT_SECONDS)",
                "timeout",
            ) from None
        ctx.sink.emit(MessageEnded())
        tool_calls = await _with_unique_ids(ctx, progress.tool_calls())
        message = await draft.finish(MessageStatus.COMPLETE, tool_calls)
        progress.draft, progress.calls, progress.last_stored = None, {}, message.id
        ctx.sink.emit(MessageStored(message.id))
        await self._account(ctx, progress, agent.name, "answer", progress.usage)
        calls = open_calls([message])
        return RunTools(calls) if calls else FinalOutput(message.id)

    async def _fit(
        self,
        budget: ContextBudget,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
    ) -> list[dict[str, Any]]:
        fitted = budget.fit(messages, tools)
        if self._tokens is None:
            return fitted
        while (counted := await self._tokens.count(fitted, tools)) is not None:
            if budget.fits(counted, len(fitted)):
                break
            fitted = budget.without_oldest(fitted, counted)
        return fitted


async def _with_unique_ids(ctx: RunContext, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Call ids name records across all sessions, but some servers number them per reply
    (`call_0`), leave them out, or send ids longer than a record holds: give such calls an id
    of the hub's own (stored with the message, so the model reads the same id back)."""
    seen: set[str] = set()
    for call in calls:
        call_id = str(call["id"])
        if (
            len(call_id) > CALL_ID_MAX
            or call_id in seen
            or await ctx.store.get_tool_call(call_id) is not None
        ):
            call["id"] = f"call_{uuid.uuid4().hex}"
        seen.add(call["id"])
    return calls


async def _store_partial(ctx: RunContext, progress: _Progress, status: MessageStatus) -> int | None:
    """A cut or cancelled model call keeps what it said (a draft saved empty is kept too)."""
    draft = progress.draft
    if draft is None or not (draft.text or draft.saved):
        return None
    message = await draft.finish(status)
    ctx.sink.emit(MessageStored(message.id))
    return message.id
