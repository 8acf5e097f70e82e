"""The turn engine: one loop that runs every agent, independent of the transport.

A turn streams the model, forwards text to the `RunSink` as it arrives, settles the tool calls
the model made (`ToolDispatcher`) and feeds their answers back, until the model answers without
tools. The state of a turn lives in the stored history, never in this object: a turn that parks
on a call (an approval, an IDE's result, a user's answer) goes on later by calling `advance`
again. Nothing is written per token.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from agents.definitions import ORCHESTRATOR, AgentSpec
from agents.dispatch import Completion, OpenCall, Parked, ToolDispatcher
from agents.events import RunSink
from agents.llm import ChatModel, LLMError, ToolCallFragment
from agents.routing import Router
from db import store
from db.models import Message, MessageStatus
from tools.registry import openai_tools

RunEndReason = Literal["completed", "cancelled", "error", "waiting"]
CONTEXT_MESSAGES = 200


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    reason: RunEndReason
    message_id: int | None = None
    waiting_for: tuple[str, ...] = ()


@dataclass(slots=True)
class _Step:
    """What one model call produced so far; kept so a cut or cancel can store the partial."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, ToolCallFragment] = field(default_factory=dict)

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


class TurnEngine:
    def __init__(
        self, model: ChatModel, router: Router, dispatcher: ToolDispatcher, max_steps: int = 8
    ) -> None:
        self._model = model
        self._router = router
        self._dispatcher = dispatcher
        self._max_steps = max_steps

    async def advance(
        self, session_id: str, sink: RunSink, user_text: str | None = None
    ) -> TurnOutcome:
        """Take the turn as far as it can go. `user_text`: the turn starts with this message
        (already stored), so the orchestrator routes it first."""
        step = _Step()
        last_stored: int | None = None
        try:
            if user_text is not None and sink.agent.name == ORCHESTRATOR.name:
                await self._route(session_id, user_text, sink)
            model_calls = 0
            while True:
                history = await store.history(session_id, CONTEXT_MESSAGES)
                if calls := open_calls(history):
                    settled = await self._dispatcher.settle(session_id, calls, sink)
                    if isinstance(settled, Parked):
                        return TurnOutcome("waiting", last_stored, settled.call_ids)
                    if isinstance(settled, Completion):
                        return TurnOutcome("completed", await _complete(session_id, settled, sink))
                    continue
                if history and history[-1].role == "assistant":
                    return TurnOutcome("completed", history[-1].id)  # nothing left to answer
                if model_calls == self._max_steps:
                    sink.error("max_steps", f"stopped after {model_calls} model calls in one turn")
                    return TurnOutcome("error", last_stored)
                model_calls += 1
                step = _Step()
                agent = sink.agent
                await self._stream_step(build_context(agent, history), agent, step, sink)
                sink.message_end()
                message = await store.add_message(
                    session_id,
                    "assistant",
                    "".join(step.text),
                    agent=agent.name,
                    tool_calls=await _with_unique_ids(step.tool_calls()),
                )
                step, last_stored = _Step(), message.id
        except LLMError as exc:
            stored = await _store_partial(session_id, sink.agent, step, MessageStatus.INTERRUPTED)
            sink.message_end()
            sink.error("llm_error", str(exc))
            return TurnOutcome("error", stored or last_stored)
        except asyncio.CancelledError:
            # The run task belongs to the session alone: a cancel is an outcome to record.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            stored = await _store_partial(session_id, sink.agent, step, MessageStatus.CANCELLED)
            if step.text:
                sink.message_end()
            await self.abandon(session_id, sink)
            return TurnOutcome("cancelled", stored or last_stored)

    async def abandon(self, session_id: str, sink: RunSink) -> None:
        """Answer the turn's open calls as cancelled (a cancel while parked or running)."""
        history = await store.history(session_id, CONTEXT_MESSAGES)
        await self._dispatcher.abandon(session_id, open_calls(history), sink)

    async def _route(self, session_id: str, user_text: str, sink: RunSink) -> None:
        history = await store.history(session_id, CONTEXT_MESSAGES)
        decision = await self._router.route(user_text, build_context(sink.agent, history)[1:-1])
        await sink.switch_agent(
            decision.agent, decision.reason, decision.method, decision.confidence
        )

    async def _stream_step(
        self, messages: list[dict[str, Any]], agent: AgentSpec, step: _Step, sink: RunSink
    ) -> None:
        async for item in self._model.stream(messages, openai_tools(agent.tools)):
            if type(item) is str:
                step.text.append(item)
                sink.token(item)
            elif isinstance(item, ToolCallFragment):
                step.add_call_piece(item)


async def _with_unique_ids(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Call ids name records across all sessions, but some servers number them per reply
    (`call_0`) or leave them out: give such calls an id of the hub's own."""
    seen: set[str] = set()
    for call in calls:
        if call["id"] in seen or await store.get_tool_call(call["id"]) is not None:
            call["id"] = f"call_{uuid.uuid4().hex}"
        seen.add(call["id"])
    return calls


def open_calls(history: list[Message]) -> list[OpenCall]:
    """The calls of the latest assistant message that no tool message answers yet."""
    for index in range(len(history) - 1, -1, -1):
        message = history[index]
        if message.role == "user":
            return []
        if message.role != "assistant":
            continue
        answered = {m.tool_call_id for m in history[index + 1 :] if m.role == "tool"}
        return [
            OpenCall(call["id"], call["function"]["name"], _arguments(call), message.agent or "")
            for call in message.tool_calls or ()
            if call["id"] not in answered
        ]
    return []


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = orjson.loads(call["function"]["arguments"] or "{}")
    except orjson.JSONDecodeError:
        parsed = None
    # Not an object: the tool's validation tells the model what it got wrong.
    return parsed if isinstance(parsed, dict) else {"_unparsed": call["function"]["arguments"]}


def build_context(agent: AgentSpec, history: list[Message]) -> list[dict[str, Any]]:
    """The agent's instructions followed by the stored conversation, in OpenAI's format."""
    context: list[dict[str, Any]] = [{"role": "system", "content": agent.instructions}]
    unanswered: list[str] = []
    for message in history:
        if message.role != "tool":
            context += [_no_result(call_id) for call_id in unanswered]
            unanswered = [call["id"] for call in message.tool_calls or ()]
        elif message.tool_call_id in unanswered:
            unanswered.remove(message.tool_call_id)
        context.append(_as_openai(message))
    return context + [_no_result(call_id) for call_id in unanswered]


def _no_result(call_id: str) -> dict[str, Any]:
    # A turn killed mid-tool leaves calls without results; APIs refuse such a context.
    return {"role": "tool", "tool_call_id": call_id, "content": "error: the tool did not run"}


def _as_openai(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = message.tool_calls
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


async def _complete(session_id: str, completion: Completion, sink: RunSink) -> int:
    """attempt_completion: the result is the turn's final answer."""
    sink.token(completion.result)
    sink.message_end()
    message = await store.add_message(
        session_id, "assistant", completion.result, agent=sink.agent.name
    )
    return int(message.id)


async def _store_partial(
    session_id: str, agent: AgentSpec, step: _Step, status: MessageStatus
) -> int | None:
    if not step.text:
        return None
    message = await store.add_message(
        session_id, "assistant", "".join(step.text), agent=agent.name, status=status
    )
    return int(message.id)
