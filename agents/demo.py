"""The demo model (`agent-hub serve --demo-llm`): a `ChatModel` in the hub's own process, so
everything can be tried with no LLM at all — streaming, routing, approvals, IDE tool calls,
questions and plans.

It reads the last message and answers by rule: a request to write, run, read, ask or plan gets
the matching tool call (when the agent has that tool), a tool's result gets a short report, and
anything else a Markdown answer that lists what to try. It routes by the original service's
keywords. Every answer says that it comes from the demo model; it counts words as its tokens.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from agents.llm import FunctionCall, ToolCallFragment
from agents.routing import route_by_keywords
from agents.usage import Usage

WORD_SECONDS = 0.02  # between streamed words, so the stream is visible
NOTE = "*(demo model — no LLM is connected)*"
TRY = (
    "Try: **write a file**, **run a command**, **read the README**, **ask me a question**, "
    "or **make a plan** for something bigger."
)
# What a request asks for: (pattern, tool), first match wins.
_ASKS = (
    (re.compile(r"\bplan\b", re.IGNORECASE), "propose_plan"),
    (re.compile(r"\b(write|create|save)\b", re.IGNORECASE), "write_file"),
    (re.compile(r"\b(run|command|execute|test)\b", re.IGNORECASE), "execute_command"),
    (re.compile(r"\b(read|open|show)\b", re.IGNORECASE), "read_file"),
    (re.compile(r"\b(ask me|question)\b", re.IGNORECASE), "ask_followup_question"),
)


class DemoModel:
    """Implements `agents.ports.ChatModel` without a network."""

    def __init__(self, word_seconds: float = WORD_SECONDS) -> None:
        self._word_seconds = word_seconds
        self._ids = itertools.count(1)

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str | ToolCallFragment | Usage]:
        offered = {t["function"]["name"] for t in tools or ()}
        last = messages[-1] if messages else {"role": "user", "content": ""}
        request = str(last.get("content") or "")
        after_tool = last.get("role") == "tool"
        if after_tool and request.startswith("switched to the "):  # the new agent takes it up
            asked = [m for m in messages if m.get("role") == "user"]
            request, after_tool = str(asked[-1].get("content") or "") if asked else "", False
        call = None if after_tool else _call_for(request, offered)
        prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
        if call is not None:
            name, arguments = call
            call_id = f"demo_{next(self._ids)}"
            yield ToolCallFragment(0, call_id, name, json.dumps(arguments))
            yield Usage(prompt, len(json.dumps(arguments).split()))
            return
        words = _answer(after_tool, request).split(" ")
        words = words[:max_tokens] if max_tokens else words
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word
            await asyncio.sleep(self._word_seconds)
        yield Usage(prompt, len(words))

    async def call_function(
        self,
        messages: list[dict[str, Any]],
        function: dict[str, Any],
        timeout: float,  # noqa: ASYNC109 - the protocol's; nothing here waits
        max_tokens: int = 256,
    ) -> FunctionCall:
        """The routing call: the original keywords decide, and "plan" asks for a plan."""
        content = str(messages[-1].get("content") or "") if messages else ""
        request = content.rsplit("New request:\n", 1)[-1]
        decision = route_by_keywords(request)
        arguments = {
            "agent": decision.agent,
            "confidence": decision.confidence,
            "reason": f"the demo model routes by keywords: {decision.reason}",
            "plan": bool(re.search(r"\bplan\b", request, re.IGNORECASE)),
        }
        return FunctionCall(arguments, Usage(len(content.split()), len(arguments)))


def _call_for(request: str, offered: set[str]) -> tuple[str, dict[str, Any]] | None:
    if request.startswith("The plan "):  # a plan's report: the proposer only tells the user
        return None
    in_plan = request.startswith("Step ")  # a plan's brief
    for pattern, tool in _ASKS:
        if not pattern.search(request) or (in_plan and tool == "propose_plan"):
            continue  # a plan's own messages are carried out, not planned again
        if tool in offered:
            return tool, _ARGUMENTS[tool]
        if tool == "propose_plan" and "switch_mode" in offered:  # the architect plans
            return "switch_mode", {"mode": "architect", "reason": "planning is the architect's"}
    return None


_ARGUMENTS: dict[str, dict[str, Any]] = {
    "write_file": {
        "path": "demo.md",
        "content": "# Written by the demo model\n\nThe hub asked you before writing this file.\n",
    },
    "execute_command": {"command": "echo hello from the demo model"},
    "read_file": {"path": "README.md", "end_line": 20},
    "ask_followup_question": {
        "question": "Which do you prefer? (asked by the demo model)",
        "options": ["tabs", "spaces"],
    },
    "propose_plan": {
        "title": "A demo plan",
        "steps": [
            {"title": "Write a note", "agent": "coder", "description": "Write demo.md."},
            {"title": "Explain it", "agent": "ask", "description": "Explain what demo.md says."},
        ],
    },
}


def _answer(after_tool: bool, request: str) -> str:
    if after_tool:
        first = request.strip().splitlines()[0] if request.strip() else "(nothing)"
        shown = first if len(first) <= 160 else first[:159] + "…"
        return f"{NOTE} The tool answered: `{shown}` — that is all this demo does with it."
    if request.startswith(("Step ", "The plan ")):
        return f"{NOTE} Done: {request.splitlines()[0]}"
    quoted = " ".join(request.split())[:120] or "nothing"
    return (
        f"{NOTE}\n\nHello! I stream this answer word by word so you can see the hub at work. "
        f"You said: _{quoted}_\n\n{TRY}"
    )
