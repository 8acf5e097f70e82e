"""Token usage as the model reports it, and what it costs by an optional price table.

A model that reports nothing is recorded as `None`, never as an estimate: a hub that guessed
would show a total nobody can check against the provider's bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from db.records import StoredUsage

PER = 1_000_000  # prices are per million tokens, as providers list them


@dataclass(frozen=True, slots=True)
class Usage:
    """One model call's tokens; `cached_tokens` is the part of the prompt served from cache."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        """Read an OpenAI `usage` object; None unless it carries both counts."""
        if not isinstance(usage, dict):
            return None
        prompt, completion = (
            _count(usage.get("prompt_tokens")),
            _count(usage.get("completion_tokens")),
        )
        if prompt is None or completion is None:
            return None
        details = usage.get("prompt_tokens_details")
        cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
        return cls(prompt, completion, cached)

    @classmethod
    def of_session(cls, totals: StoredUsage) -> Usage | None:
        """A session's totals as one `Usage`; None while no call has reported any."""
        if totals.model_calls <= totals.unreported_calls:
            return None
        return cls(totals.prompt_tokens, totals.completion_tokens, totals.cached_tokens)

    def __add__(self, other: Usage) -> Usage:
        cached = (
            None
            if self.cached_tokens is None and other.cached_tokens is None
            else (self.cached_tokens or 0) + (other.cached_tokens or 0)
        )
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            cached,
        )


def _count(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


class Prices(BaseModel):
    """USD per million tokens (`AGENT_RUNTIME__LLM_PRICES`); `cached` defaults to `prompt`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)
    cached: float | None = Field(None, ge=0)

    def cost(self, usage: Usage) -> float:
        cached = usage.cached_tokens or 0
        cached_price = self.prompt if self.cached is None else self.cached
        dollars = (
            (usage.prompt_tokens - cached) * self.prompt
            + cached * cached_price
            + usage.completion_tokens * self.completion
        )
        return round(dollars / PER, 8)


@dataclass(slots=True)
class RunningTotals:
    """A live session's usage totals: read from the ledger once, then added to in memory by
    each call the session makes (it is the one writer of its calls while it lives)."""

    known: StoredUsage | None = None

    def add(self, usage: Usage | None) -> StoredUsage:
        assert self.known is not None, "read the totals from the ledger first"
        was = self.known
        self.known = StoredUsage(
            prompt_tokens=was.prompt_tokens + (usage.prompt_tokens if usage else 0),
            completion_tokens=was.completion_tokens + (usage.completion_tokens if usage else 0),
            cached_tokens=was.cached_tokens + ((usage.cached_tokens or 0) if usage else 0),
            model_calls=was.model_calls + 1,
            unreported_calls=was.unreported_calls + (usage is None),
        )
        return self.known
