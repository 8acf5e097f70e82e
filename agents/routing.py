"""How the orchestrator picks a specialist: ask the model, fall back to keywords.

`Router.route` forces the model to call `route_to_agent` (see `ROUTE_FUNCTION`) and validates the
arguments with `RouteChoice`. Whatever goes wrong -- the endpoint fails or is slow, the model
answers in prose, names an unknown agent, gives a confidence outside 0..1 -- is logged as a
warning and answered by `route_by_keywords`, the original service's keyword lists.

Keyword matching is case-insensitive. A single keyword matches at the *start* of a word
(``\\bfix``): "fixes", "fixing" and "bugs" count, "prefix" and "hotfix" do not. Stems are not
handled ("writing" does not hit "write"), and prefix matching still gives the odd false hit
("special" for "spec", "planet" for "plan").
A phrase ("what is", "how does") must appear as whole words, any whitespace between them.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, ValidationError

from agents.definitions import AGENTS
from agents.llm import LLMError
from agents.ports import ChatModel
from agents.usage import Usage
from tools.permissions import WritePolicy
from tools.validation import describe

log = logging.getLogger(__name__)

SPECIALISTS = ("coder", "architect", "debug", "ask")
KEYWORD_CONFIDENCE = 0.5
DEFAULT_CONFIDENCE = 0.3
DEFAULT_SPECIALIST = "coder"
CONTEXT_MESSAGES = 10
CONTEXT_CHARS = 1000  # per context message; routing needs the gist, not whole files

# Checked in this order; the first keyword found anywhere in the message wins.
KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("coder", ("create", "write", "implement", "fix", "code", "refactor", "modify")),
    ("architect", ("design", "architecture", "plan", "spec", "blueprint")),
    ("debug", ("debug", "error", "bug", "problem", "why", "investigate", "crash")),
    ("ask", ("explain", "what is", "how does", "help", "understand")),
)


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    words = keyword.split()
    if len(words) == 1:
        return re.compile(rf"\b{re.escape(keyword)}", re.IGNORECASE)
    return re.compile(r"\b" + r"\s+".join(map(re.escape, words)) + r"\b", re.IGNORECASE)


_PATTERNS = tuple(
    (agent, keyword, _keyword_pattern(keyword)) for agent, words in KEYWORDS for keyword in words
)


# An agent's name, a confidence and one sentence: a longer answer is a model rambling on.
ROUTING_MAX_TOKENS = 128


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    agent: str
    reason: str
    method: Literal["llm", "keywords"]
    confidence: float
    usage: Usage | None = None  # of the routing call, also when its answer was not used
    asked_model: bool = False  # a model call was made (and is counted), answered or not
    plan: bool = False  # the orchestrator plans the request first, instead of handing it off


class RouteChoice(BaseModel):
    """The arguments the model must give to `route_to_agent`."""

    agent: Literal["coder", "architect", "debug", "ask"] = Field(
        description="The specialist that should handle the request."
    )
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are, from 0 to 1.")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="One short sentence on why this specialist fits."
    )
    plan: bool = Field(
        False,
        description="True only for a large request that needs several steps by different "
        "specialists: it is planned first, and the user approves the plan.",
    )


ROUTE_FUNCTION: dict[str, Any] = {
    "name": "route_to_agent",
    "description": "Hand the user's request to the specialist best suited to it:\n"
    + "\n".join(f"- {name}: {AGENTS[name].description}" for name in SPECIALISTS),
    "parameters": RouteChoice.model_json_schema(),
}

SYSTEM_PROMPT = (
    "You route requests in a team of coding agents. Read the recent conversation and the new "
    "request, then call route_to_agent with the one specialist best suited to the new request, "
    "your confidence (0 to 1) and a one-sentence reason. Do not answer the request yourself."
)


def route_by_keywords(message: str) -> RoutingDecision:
    """The keyword fallback: first hit in `KEYWORDS` order wins, else the coder."""
    for agent, keyword, pattern in _PATTERNS:
        if pattern.search(message):
            return RoutingDecision(
                agent, f"keyword {keyword!r} matched", "keywords", KEYWORD_CONFIDENCE
            )
    return RoutingDecision(
        DEFAULT_SPECIALIST, "no keyword matched; default", "keywords", DEFAULT_CONFIDENCE
    )


class Router:
    def __init__(self, model: ChatModel, timeout: float = 15.0) -> None:
        self._model = model
        self._timeout = timeout

    async def route(self, message: str, context: list[dict[str, Any]]) -> RoutingDecision:
        """Ask the model which specialist should take `message`; never raises for a bad answer.

        `context` is the conversation so far (chat messages); the last `CONTEXT_MESSAGES` user
        and assistant texts are shown to the model as a transcript.
        """
        usage: Usage | None = None
        try:
            call = await self._model.call_function(
                _routing_messages(message, context),
                ROUTE_FUNCTION,
                self._timeout,
                max_tokens=ROUTING_MAX_TOKENS,
            )
            usage = call.usage
            choice = RouteChoice.model_validate(call.arguments)
        except LLMError as exc:
            log.warning("LLM routing failed, using keywords: %s", exc)
        except ValidationError as exc:
            problems = describe(exc, whole="arguments")
            log.warning("LLM routing answer invalid, using keywords: %s", problems)
        else:
            if (unsound := _unsound(choice, message)) is None:
                return RoutingDecision(
                    choice.agent, choice.reason, "llm", choice.confidence, usage, True, choice.plan
                )
            log.warning("LLM routing answer unsound (%s), using keywords", unsound)
        fallback = route_by_keywords(message)
        return dataclasses.replace(fallback, usage=usage, asked_model=True)


_WORD = re.compile(r"[^\W\d_]{2,}")
# A request to create or change files, naming a file or files.
_CHANGES_FILES = re.compile(
    r"\b(create|write|add|edit|modify|change|update|fix|implement|refactor|delete|remove|rename)"
    r"\b.*?(\bfiles?\b|\b[\w-]+\.[A-Za-z0-9]{1,5}\b)",
    re.IGNORECASE | re.DOTALL,
)


def _unsound(choice: RouteChoice, message: str) -> str | None:
    """Why a well-formed routing answer still cannot be trusted; None if it can."""
    if not _WORD.search(choice.reason):
        return f"the reason {choice.reason[:40]!r} has no words"
    prompt = (SYSTEM_PROMPT + ROUTE_FUNCTION["description"]).lower()
    if len(choice.reason) >= 20 and choice.reason.lower() in prompt:
        return "the reason repeats the routing instructions"
    read_only = AGENTS[choice.agent].write_policy is WritePolicy.READ_ONLY
    if read_only and _CHANGES_FILES.search(message):
        return f"the request changes files and {choice.agent} may not write"
    return None


def _routing_messages(message: str, context: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A transcript inside one user message rather than the raw history: tool calls and tool
    # results cut out of their pairs would make the request invalid, and the model should judge
    # the conversation, not continue it.
    lines: list[str] = []
    for item in context:
        role, content = item.get("role"), item.get("content")
        if role in ("user", "assistant") and isinstance(content, str) and content.strip():
            text = content.strip()
            if len(text) > CONTEXT_CHARS:
                text = text[:CONTEXT_CHARS] + " [...]"
            lines.append(f"{role}: {text}")
    recent = lines[-CONTEXT_MESSAGES:]
    parts: list[str] = []
    if recent:
        parts.append("Recent conversation:\n" + "\n".join(recent))
    parts.append("New request:\n" + message)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(parts)},
    ]
