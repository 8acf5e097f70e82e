"""The turn engine: one loop that runs any agent, independent of the transport.

A turn streams the model, forwards text to a `RunSink` as it arrives, hands tool calls to the
sink and feeds their results back, and stores the conversation — never once per token.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from agents.definitions import AgentSpec
from agents.llm import ChatModel, LLMError, ToolCallFragment
from db import store
from db.models import Message, MessageStatus

RunEndReason = Literal["completed", "cancelled", "error"]
CONTEXT_MESSAGES = 200


@dataclass(frozen=True, slots=True)
class ToolRequest:
    call_id: str
    tool_name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    content: str  # what the model is told
    ok: bool = True


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    reason: RunEndReason
    message_id: int | None = None


class RunSink(Protocol):
    """Where a run's output goes. `token` is the hot path and must not block."""

    def token(self, text: str) -> None: ...

    def message_end(self) -> None: ...

    def error(self, code: str, content: str) -> None: ...

    async def call_tool(self, agent: AgentSpec, request: ToolRequest) -> ToolOutcome: ...


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

    def requests(self) -> list[ToolRequest]:
        return [_to_request(frag) for _, frag in sorted(self.calls.items())]


class TurnEngine:
    def __init__(self, model: ChatModel, max_steps: int = 8) -> None:
        self._model = model
        self._max_steps = max_steps

    async def run(self, session_id: str, agent: AgentSpec, sink: RunSink) -> TurnOutcome:
        """Answer the conversation as it stands in the store (the user message already in it)."""
        messages = await load_context(session_id, agent)
        step = _Step()
        last_stored: int | None = None
        try:
            for _ in range(self._max_steps):
                step = _Step()
                await self._stream_step(messages, step, sink)
                sink.message_end()
                requests = step.requests()
                message = await _store_step(session_id, agent, step, requests)
                step, last_stored = _Step(), message.id
                if not requests:
                    return TurnOutcome("completed", last_stored)
                messages.append(_as_openai(message))
                for request in requests:
                    messages.append(await _run_tool(session_id, agent, request, sink))
        except LLMError as exc:
            stored = await _store_partial(session_id, agent, step, MessageStatus.INTERRUPTED)
            sink.message_end()
            sink.error("llm_error", str(exc))
            return TurnOutcome("error", stored)
        except asyncio.CancelledError:
            # The run task belongs to the session alone: a cancel is an outcome to record.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            stored = await _store_partial(session_id, agent, step, MessageStatus.CANCELLED)
            if step.text:
                sink.message_end()
            return TurnOutcome("cancelled", stored or last_stored)
        sink.error("max_steps", f"stopped after {self._max_steps} model calls in one turn")
        return TurnOutcome("error")

    async def _stream_step(
        self, messages: list[dict[str, Any]], step: _Step, sink: RunSink
    ) -> None:
        async for item in self._model.stream(messages):
            if type(item) is str:
                step.text.append(item)
                sink.token(item)
            elif isinstance(item, ToolCallFragment):
                step.add_call_piece(item)


async def load_context(session_id: str, agent: AgentSpec) -> list[dict[str, Any]]:
    """The agent's instructions followed by the stored conversation, in OpenAI's format."""
    history = await store.history(session_id, CONTEXT_MESSAGES)
    context = [{"role": "system", "content": agent.instructions}]
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
    # A run cancelled or killed mid-tool leaves calls without results; APIs refuse such a context.
    return {"role": "tool", "tool_call_id": call_id, "content": "error: the tool did not run"}


async def _run_tool(
    session_id: str, agent: AgentSpec, request: ToolRequest, sink: RunSink
) -> dict[str, Any]:
    outcome = await sink.call_tool(agent, request)
    result = await store.add_message(
        session_id, "tool", outcome.content, agent=agent.name, tool_call_id=request.call_id
    )
    return _as_openai(result)


def _as_openai(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = message.tool_calls
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def _to_request(fragment: ToolCallFragment) -> ToolRequest:
    try:
        arguments = orjson.loads(fragment.arguments or "{}")
    except orjson.JSONDecodeError:
        arguments = {"_unparsed": fragment.arguments}
    if not isinstance(arguments, dict):
        arguments = {"_unparsed": fragment.arguments}
    call_id = fragment.call_id or f"call_{fragment.index}"
    return ToolRequest(call_id, fragment.name or "", arguments)


async def _store_step(
    session_id: str, agent: AgentSpec, step: _Step, requests: list[ToolRequest]
) -> Message:
    tool_calls = [
        {
            "id": r.call_id,
            "type": "function",
            "function": {"name": r.tool_name, "arguments": orjson.dumps(r.arguments).decode()},
        }
        for r in requests
    ]
    return await store.add_message(
        session_id, "assistant", "".join(step.text), agent=agent.name, tool_calls=tool_calls
    )


async def _store_partial(
    session_id: str, agent: AgentSpec, step: _Step, status: MessageStatus
) -> int | None:
    if not step.text:
        return None
    message = await store.add_message(
        session_id, "assistant", "".join(step.text), agent=agent.name, status=status
    )
    return int(message.id)
