"""What a scripted model answers, reply by reply: shared by the OpenAI-compatible HTTP server
(`tests.scripted_llm.ScriptedLLM`) and the in-process model (`tests.fakes.model.ScriptedModel`),
so one script reads the same whichever runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _reject_str(value: object, name: str) -> None:
    # A bare string is a Sequence[str] too and would silently stream one character per chunk.
    if isinstance(value, str):
        raise TypeError(f"{name} must be a list of strings, not a str")


@dataclass(frozen=True)
class Text:
    """Stream ``chunks`` as assistant content, then ``finish_reason="stop"``.

    ``delay`` seconds are slept before each content chunk (slow streams).  For a
    ``stream: false`` request a regular ``chat.completion`` with the joined text is returned
    (after ``delay * len(chunks)`` seconds).
    """

    chunks: list[str]
    delay: float = 0.0

    def __post_init__(self) -> None:
        _reject_str(self.chunks, "chunks")


@dataclass(frozen=True)
class ToolCalls:
    """Stream optional ``text_chunks``, then ``calls`` as OpenAI-style tool-call deltas.

    Each call is ``(call_id, function_name, arguments)``.  Per call the stream carries one delta
    with id/type/name and ``arguments: ""``, followed by the compact JSON arguments split into
    2–3 pieces.  The final chunk has ``finish_reason="tool_calls"``.
    """

    calls: list[tuple[str, str, dict[str, Any]]]
    text_chunks: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _reject_str(self.text_chunks, "text_chunks")


@dataclass(frozen=True)
class Fail:
    """Answer with HTTP ``status`` and an OpenAI-style error body (no stream)."""

    status: int = 500
    message: str = "scripted failure"


@dataclass(frozen=True)
class Cut:
    """Stream ``chunks`` as content, then abort the connection mid-body.

    No finish chunk, no ``[DONE]`` and no terminating zero-length HTTP chunk.  All chunks before
    the cut reach the client, then (verified with openai 3.x, which is built on ``httpx2``):

    * ``with_streaming_response`` + ``iter_lines()``/``iter_bytes()``: the *raw*
      ``httpx2.RemoteProtocolError`` ("peer closed connection without sending complete message
      body (incomplete chunked read)") escapes -- not an ``openai`` exception, and not
      ``httpx.RemoteProtocolError`` either (``httpx2`` is a separate package).
    * ``create(..., stream=True)`` iterated as ``AsyncStream``: ``openai.APIConnectionError``
      whose ``__cause__`` is that ``httpx2.RemoteProtocolError``.
    * ``stream: false``: a truncated JSON body is sent and the connection aborted the same way;
      the SDK raises ``openai.APIConnectionError`` -- and *retries* it if ``max_retries > 0``
      (each retry pops the next reply).  A streamed Cut is never retried.
    """

    chunks: list[str]

    def __post_init__(self) -> None:
        _reject_str(self.chunks, "chunks")


@dataclass(frozen=True)
class Hang:
    """Stream ``chunks``, then stall until ``release()``/``stop()`` or :data:`HANG_TIMEOUT`.

    After waking up the stream finishes normally (stop chunk + ``[DONE]``).  If the client
    disconnects while the reply hangs, the server-side stream is cancelled and
    :attr:`ScriptedLLM.disconnects` is incremented.  ``stream: false`` requests stall before the
    response and then get the joined text.
    """

    chunks: list[str]

    def __post_init__(self) -> None:
        _reject_str(self.chunks, "chunks")


Reply = Text | ToolCalls | Fail | Cut | Hang
