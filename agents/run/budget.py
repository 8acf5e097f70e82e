"""Fitting a model call into the model's context window (`AGENT_RUNTIME__LLM_CONTEXT_TOKENS`).

Tokens are estimated, not counted: one token per three bytes of the request's JSON, plus a few
per message for the chat template. Tokenizers of current models give about four bytes a token
for English and three for code, so the estimate errs on the side of a prompt that fits.

What must fit: the instructions, the tool schemas, the newest messages, and `max_tokens` kept
free for the reply. The oldest messages go first, a call with its results as one piece (an API
refuses a result without its call); when even the newest piece does not fit, the call is not
made and the turn fails with `context_too_long`, naming the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

PER_MESSAGE = 4  # the chat template's markers around each message
LEFT_OUT = "(Earlier messages of this conversation were left out to fit the model's context.)"


class ContextTooLong(Exception):
    """The newest message cannot fit; the message names the limit and the setting."""


def estimate_tokens(value: Any) -> int:
    return len(orjson.dumps(value)) // 3 + 1


@dataclass(frozen=True, slots=True)
class ContextBudget:
    context_tokens: int
    reply_tokens: int  # kept free for what the model writes

    def fit(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]]:
        """`messages` (the instructions first) with as many of the oldest left out as it takes."""
        system, rest = messages[0], messages[1:]
        fixed = estimate_tokens(system) + PER_MESSAGE + estimate_tokens(LEFT_OUT)
        fixed += estimate_tokens(tools) if tools else 0
        room = self.context_tokens - self.reply_tokens - fixed
        kept: list[dict[str, Any]] = []
        for piece in reversed(_pieces(rest)):
            size = sum(estimate_tokens(m) + PER_MESSAGE for m in piece)
            if size > room:
                break
            kept[:0], room = piece, room - size
        if rest and not kept:
            newest = sum(estimate_tokens(m) + PER_MESSAGE for m in _pieces(rest)[-1])
            raise ContextTooLong(
                f"the newest message needs about {newest} tokens, but the model's context "
                f"(AGENT_RUNTIME__LLM_CONTEXT_TOKENS={self.context_tokens}) leaves "
                f"{max(room, 0)} after the instructions and tools ({fixed}) and the reply "
                f"(AGENT_RUNTIME__LLM_MAX_TOKENS={self.reply_tokens})"
            )
        if len(kept) < len(rest):
            system = {**system, "content": f"{system['content']}\n\n{LEFT_OUT}"}
        return [system, *kept]


def _pieces(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Messages grouped so that tool results stay with the call before them."""
    pieces: list[list[dict[str, Any]]] = []
    for message in messages:
        if message["role"] == "tool" and pieces:
            pieces[-1].append(message)
        else:
            pieces.append([message])
    return pieces
