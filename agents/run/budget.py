"""Fitting a model call into the model's context window (`AGENT_RUNTIME__LLM_CONTEXT_TOKENS`).

Tokens are first estimated: one token per three bytes of the request's JSON, plus a few per
message for the chat template. Tokenizers of current models give about four bytes a token for
English and three for code, so the estimate errs on the side of a prompt that fits. Where the
model server has a tokenizer (`agents.tokenizer`), the fitted prompt is then counted with it,
and more of the oldest messages go until the count fits too (text the estimate under-counts,
such as CJK, is caught there).

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
            system = _with_note(system)
        return [system, *kept]

    def fits(self, counted: int, messages: int) -> bool:
        """Whether a prompt of `counted` tokens (by the model's tokenizer, of its text) and
        `messages` messages (the chat template's markers) leaves the reply room."""
        return counted + PER_MESSAGE * messages + self.reply_tokens <= self.context_tokens

    def without_oldest(self, messages: list[dict[str, Any]], counted: int) -> list[dict[str, Any]]:
        """`messages` with their oldest piece left out, because the tokenizer counted more than
        fits; ContextTooLong when only the newest is left."""
        pieces = _pieces(messages[1:])
        if len(pieces) <= 1:
            raise ContextTooLong(
                f"the prompt has {counted} tokens by the model's tokenizer, but the model's "
                f"context (AGENT_RUNTIME__LLM_CONTEXT_TOKENS={self.context_tokens}) leaves "
                f"{self.context_tokens - self.reply_tokens} beside the reply "
                f"(AGENT_RUNTIME__LLM_MAX_TOKENS={self.reply_tokens})"
            )
        return [_with_note(messages[0]), *(m for piece in pieces[1:] for m in piece)]


def _with_note(system: dict[str, Any]) -> dict[str, Any]:
    if str(system["content"]).endswith(LEFT_OUT):
        return system
    return {**system, "content": f"{system['content']}\n\n{LEFT_OUT}"}


def _pieces(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Messages grouped so that tool results stay with the call before them."""
    pieces: list[list[dict[str, Any]]] = []
    for message in messages:
        if message["role"] == "tool" and pieces:
            pieces[-1].append(message)
        else:
            pieces.append([message])
    return pieces
