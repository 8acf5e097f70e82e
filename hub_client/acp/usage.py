"""The hub's `usage` frames as ACP sees them: `usage_update` (how full the context is, and the
session's cost) after each model call, and the turn's tokens in the prompt's answer."""

from __future__ import annotations

from acp.schema import Cost, Usage, UsageUpdate

from hub import protocol as p


def context_update(frame: p.UsageReport) -> UsageUpdate | None:
    """After a model call: its prompt and answer are what the context holds now. None where
    the model reported nothing or the hub was not told the window's size."""
    if frame.scope != "call" or frame.total_tokens is None or frame.context_tokens is None:
        return None
    cost = frame.session.cost_usd
    return UsageUpdate(
        session_update="usage_update",
        used=frame.total_tokens,
        size=frame.context_tokens,
        cost=None if cost is None else Cost(amount=cost, currency="USD"),
    )


def add_run(turn: Usage | None, frame: p.UsageReport) -> Usage | None:
    """The turn's tokens so far, with one more of its runs (a turn parked on an approval
    goes on in a new run)."""
    if frame.scope != "run" or frame.prompt_tokens is None or frame.completion_tokens is None:
        return turn
    cached = frame.cached_tokens
    if turn is not None:
        cached = (
            None
            if cached is None and turn.cached_read_tokens is None
            else ((cached or 0) + (turn.cached_read_tokens or 0))
        )
    before_in = turn.input_tokens if turn else 0
    before_out = turn.output_tokens if turn else 0
    return Usage(
        input_tokens=before_in + frame.prompt_tokens,
        output_tokens=before_out + frame.completion_tokens,
        total_tokens=before_in + before_out + frame.prompt_tokens + frame.completion_tokens,
        cached_read_tokens=cached,
    )
