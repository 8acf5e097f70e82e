"""Each model call's tokens into the ledger, and a `UsageReported` for clients: per call, and
for the run as a whole once it ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agents.ports import UsageLedger
from agents.run.steps import RunContext, UsageReported
from agents.usage import Prices, Usage
from db.records import StoredUsage


@dataclass(slots=True)
class RunUsage:
    """What the model calls of one run reported so far."""

    usage: Usage | None = None
    calls: int = 0
    unreported: int = 0
    totals: StoredUsage | None = None  # the session's, after the run's last call

    def add(self, usage: Usage | None, totals: StoredUsage) -> None:
        self.calls += 1
        self.totals = totals
        if usage is None:
            self.unreported += 1
        else:
            self.usage = usage if self.usage is None else self.usage + usage


class Accounting:
    def __init__(
        self, ledger: UsageLedger, prices: Prices | None = None, context_tokens: int | None = None
    ) -> None:
        self._ledger = ledger
        self._prices = prices
        self._context_tokens = context_tokens  # the window, for clients that show how full

    async def model_call(
        self, ctx: RunContext, run: RunUsage, agent: str, purpose: str, usage: Usage | None
    ) -> None:
        """Record one call (`usage` None: the model reported none) and tell the clients."""
        await self._ledger.record(
            ctx.session_id,
            agent,
            purpose,
            None if usage is None else usage.prompt_tokens,
            None if usage is None else usage.completion_tokens,
            None if usage is None else usage.cached_tokens,
        )
        if ctx.usage_totals.known is None:  # the session's first call since it went live
            totals = ctx.usage_totals.known = await self._ledger.totals(ctx.session_id)
        else:
            totals = ctx.usage_totals.add(usage)
        run.add(usage, totals)
        ctx.sink.emit(self._report("call", agent, usage, totals, 1, int(usage is None)))

    def run_ended(self, ctx: RunContext, run: RunUsage) -> None:
        if run.totals is not None:
            agent = ctx.sink.agent.name
            report = self._report("run", agent, run.usage, run.totals, run.calls, run.unreported)
            ctx.sink.emit(report)

    def _report(
        self,
        scope: Literal["call", "run"],
        agent: str,
        usage: Usage | None,
        totals: StoredUsage,
        calls: int,
        unreported: int,
    ) -> UsageReported:
        return UsageReported(
            scope=scope,
            agent=agent,
            usage=usage,
            model_calls=calls,
            unreported_calls=unreported,
            cost_usd=self._cost(usage),
            session=totals,
            session_cost_usd=self._cost(Usage.of_session(totals)),
            context_tokens=self._context_tokens,
        )

    def _cost(self, usage: Usage | None) -> float | None:
        if self._prices is None or usage is None:
            return None
        return self._prices.cost(usage)
