"""The OpenAI ``chat.completion.chunk`` stream shape, in one place.

Used by ``tests/scripted_llm.py`` (the scripted test server) and ``bench/fake_llm.py`` (the
benchmark server), so both stream exactly what the openai SDK and ``agents.llm.ChatModel`` read.
A stream is a role chunk, content and/or tool-call chunks, a finish chunk, optionally a usage
chunk, then ``data: [DONE]``; every chunk is one SSE event (``data: <json>\\n\\n``).

The builders return the JSON payload; :func:`sse` encodes it.  Key order is part of the shape
(the bytes on the wire must not change between versions)::

    head = Head("chatcmpl-1", int(time.time()), "gpt-x")
    body = b"".join(
        [sse(role_chunk(head)), sse(content_chunk(head, "Hi")), sse(finish_chunk(head)), DONE]
    )
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "DONE",
    "Head",
    "chunk",
    "content_chunk",
    "finish_chunk",
    "role_chunk",
    "sse",
    "tool_call_arguments_chunk",
    "tool_call_start_chunk",
    "usage",
    "usage_chunk",
]

#: The SSE event that ends every stream.
DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Head:
    """What every chunk of one completion repeats: its id, creation time and model."""

    id: str
    created: int
    model: str


def sse(payload: dict[str, Any]) -> bytes:
    """One SSE event carrying `payload` as compact JSON."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _envelope(head: Head, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": head.id,
        "object": "chat.completion.chunk",
        "created": head.created,
        "model": head.model,
        "system_fingerprint": None,
        "choices": choices,
    }


def chunk(head: Head, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """A chunk with one choice carrying `delta` (the builders below are the usual deltas)."""
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return _envelope(head, [choice])


def role_chunk(head: Head, content: str | None = "") -> dict[str, Any]:
    """The first chunk; `content` is None when only tool calls follow."""
    return chunk(head, {"role": "assistant", "content": content})


def content_chunk(head: Head, text: str) -> dict[str, Any]:
    return chunk(head, {"content": text})


def tool_call_start_chunk(head: Head, index: int, call_id: str, name: str) -> dict[str, Any]:
    """The first delta of tool call `index`: id, type, name and empty arguments."""
    function = {"name": name, "arguments": ""}
    call = {"index": index, "id": call_id, "type": "function", "function": function}
    return chunk(head, {"tool_calls": [call]})


def tool_call_arguments_chunk(head: Head, index: int, arguments: str) -> dict[str, Any]:
    """A further piece of tool call `index`'s JSON arguments."""
    return chunk(head, {"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})


def finish_chunk(head: Head, finish_reason: str = "stop") -> dict[str, Any]:
    """The last chunk with a choice: an empty delta and the finish reason."""
    return chunk(head, {}, finish_reason)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """The ``usage`` object (also used by a non-streamed ``chat.completion``)."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def usage_chunk(head: Head, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The chunk sent after the finish chunk when ``stream_options.include_usage`` is set."""
    return {**_envelope(head, []), "usage": usage(prompt_tokens, completion_tokens)}
