"""What the engine counts: each model call's reported tokens into the ledger and a
`UsageReported` per call and per run; a cut call is unknown, not zero; cost by the price table."""

from __future__ import annotations

from agents.routing import Router
from agents.run import steps as s
from agents.run.accounting import Accounting
from agents.run.engine import TurnEngine
from agents.run.tools import ToolRunner
from agents.usage import Prices, Usage
from db.records import StoredUsage
from tests.fakes.memory_store import MemoryLedger, MemoryStore
from tests.fakes.model import ScriptedModel
from tests.fakes.script import Cut, Text, ToolCalls
from tests.unit.test_engine import RecordingSink
from tools.approval import default_policies

PRICES = Prices(prompt=1.0, completion=4.0, cached=0.5)


async def run(model: ScriptedModel, agent: str = "coder") -> tuple[RecordingSink, MemoryLedger]:
    store, ledger = MemoryStore(), MemoryLedger()
    tools = ToolRunner(default_policies(), 5)
    engine = TurnEngine(model, Router(model), tools, accounting=Accounting(ledger, PRICES, 4096))
    sink = RecordingSink(agent)
    await store.add_message("s", "user", "go")
    await engine.advance(s.RunContext("s", store, sink), user_text="go")
    return sink, ledger


def reports(sink: RecordingSink) -> list[s.UsageReported]:
    return [e for e in sink.events if isinstance(e, s.UsageReported)]


async def test_each_call_and_the_run_are_reported_with_the_session_totals() -> None:
    model = ScriptedModel(
        ToolCalls(
            [("r", "route_to_agent", {"agent": "ask", "confidence": 1, "reason": "a question"})]
        ),
        Text(["fine"]),
    )
    model.usage = Usage(prompt_tokens=1000, completion_tokens=100, cached_tokens=400)
    sink, ledger = await run(model, agent="orchestrator")
    routing, answer, whole = reports(sink)
    assert [(r.scope, r.agent, r.usage) for r in (routing, answer)] == [
        ("call", "orchestrator", model.usage),
        ("call", "ask", model.usage),
    ]
    # 600 prompt tokens at 1.0, 400 cached at 0.5, 100 completion at 4.0, per million
    assert answer.cost_usd == 0.0012
    assert whole.scope == "run" and whole.usage == Usage(2000, 200, 800)
    assert whole.session == StoredUsage(2000, 200, 800, model_calls=2, unreported_calls=0)
    assert whole.session_cost_usd == 0.0024 and whole.context_tokens == 4096
    assert [call[2] for call in ledger.calls] == ["routing", "answer"]
    assert sink.events.index(whole) == len(sink.events) - 1


async def test_a_model_that_reports_nothing_is_unknown_not_zero() -> None:
    sink, ledger = await run(ScriptedModel(Text(["quiet"])))
    call, whole = reports(sink)
    assert (call.usage, call.cost_usd, call.unreported_calls) == (None, None, 1)
    assert (whole.usage, whole.unreported_calls, whole.session_cost_usd) == (None, 1, None)
    assert ledger.calls == [("s", "coder", "answer", None, None, None)]


async def test_a_cut_stream_is_counted_as_a_call_that_reported_nothing() -> None:
    model = ScriptedModel(Text(["ok"]), Cut(["par"]))
    model.usage = Usage(prompt_tokens=10, completion_tokens=2)
    sink, ledger = await run(model)  # the first turn: reported
    assert reports(sink)[-1].session.model_calls == 1
    store = MemoryStore()
    tools = ToolRunner(default_policies(), 5)
    engine = TurnEngine(model, Router(model), tools, accounting=Accounting(ledger))
    cut = RecordingSink()
    await store.add_message("s", "user", "again")
    await engine.advance(s.RunContext("s", store, cut))
    call, whole = reports(cut)
    assert call.usage is None and whole.usage is None
    assert whole.session == StoredUsage(10, 2, 0, model_calls=2, unreported_calls=1)
    assert call.cost_usd is None  # no price table given


async def test_a_live_sessions_running_totals_agree_with_the_ledger() -> None:
    """The totals are read once per live session, then added to: after many calls, reported
    and unreported, they must still be what the ledger sums."""
    model = ScriptedModel(Text(["a"]), Text(["b"]), Cut(["c"]), Text(["d"]))
    model.usage = Usage(prompt_tokens=7, completion_tokens=3, cached_tokens=2)
    store, ledger = MemoryStore(), MemoryLedger()
    await ledger.record("s", "coder", "answer", 100, 10, None)  # from before it went live
    engine = TurnEngine(
        model, Router(model), ToolRunner(default_policies(), 5), accounting=Accounting(ledger)
    )
    sink = RecordingSink()
    ctx = s.RunContext("s", store, sink)
    for text in ("one", "two", "three", "four"):
        await ctx.conversation.add("user", text)
        await engine.advance(ctx)
    assert reports(sink)[-1].session == await ledger.totals("s")
    assert reports(sink)[-1].session == StoredUsage(121, 19, 6, model_calls=5, unreported_calls=1)
