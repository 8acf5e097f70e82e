"""The stored conversation, read two ways: the calls still open, and the model's context."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from agents.definitions import AgentSpec
from agents.run import textcalls
from agents.run.steps import OpenCall
from agents.vocab import ToolCallFormat
from db.records import StoredMessage


def open_calls(history: list[StoredMessage]) -> tuple[OpenCall, ...]:
    """The calls of the latest assistant message that no tool message answers yet."""
    for index in range(len(history) - 1, -1, -1):
        message = history[index]
        if message.role == "user":
            return ()
        if message.role != "assistant":
            continue
        answered = {m.tool_call_id for m in history[index + 1 :] if m.role == "tool"}
        return tuple(
            OpenCall(call["id"], call["function"]["name"], _arguments(call), message.agent or "")
            for call in message.tool_calls or ()
            if call["id"] not in answered
        )
    return ()


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = orjson.loads(call["function"]["arguments"] or "{}")
    except orjson.JSONDecodeError:
        parsed = None
    # Not an object: the tool's validation tells the model what it got wrong.
    return parsed if isinstance(parsed, dict) else {"_unparsed": call["function"]["arguments"]}


def model_messages(
    agent: AgentSpec,
    history: list[StoredMessage],
    tool_format: ToolCallFormat = "native",
    functions: Iterable[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The agent's instructions followed by the stored conversation, in OpenAI's format; notices
    for people (agent switches, interrupted runs) are left out: small models answer them.
    In the text format, calls and results are written as text, as the model was told to, and
    the instructions list the agent's tools and `functions`."""
    context: list[dict[str, Any]] = [{"role": "system", "content": agent.instructions}]
    unanswered: list[str] = []
    for message in history:
        if message.notice:
            continue
        if message.role != "tool":
            context += [_no_result(call_id) for call_id in unanswered]
            unanswered = [call["id"] for call in message.tool_calls or ()]
        elif message.tool_call_id in unanswered:
            unanswered.remove(message.tool_call_id)
        context.append(_as_openai(message))
    context += [_no_result(call_id) for call_id in unanswered]
    return _as_text(agent, context, functions) if tool_format == "text" else context


def _as_text(
    agent: AgentSpec, context: list[dict[str, Any]], functions: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    system = f"{agent.instructions}\n\n{textcalls.tools_prompt(agent.tools, functions)}"
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    names: dict[str, str] = {}
    for message in context[1:]:
        if message["role"] == "tool":
            name = names.get(message["tool_call_id"], "tool")
            out.append({"role": "user", "content": textcalls.result_text(name, message["content"])})
            continue
        calls = message.get("tool_calls") or []
        names.update((call["id"], call["function"]["name"]) for call in calls)
        text = "\n".join([message["content"], *map(textcalls.call_text, calls)]).strip()
        out.append({"role": message["role"], "content": text})
    return out


def _no_result(call_id: str) -> dict[str, Any]:
    # A turn killed mid-tool leaves calls without results; APIs refuse such a context.
    return {"role": "tool", "tool_call_id": call_id, "content": "error: the tool did not run"}


def _as_openai(message: StoredMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = message.tool_calls
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out
