"""The turn engine alone: the typed events one `advance` produces, on the in-memory fakes."""

from __future__ import annotations

from agents.definitions import AGENTS, AgentSpec
from agents.routing import Router
from agents.run import approvals
from agents.run import steps as s
from agents.run.engine import TurnEngine, TurnOutcome
from agents.run.tools import ToolRunner
from agents.vocab import ErrorCode
from db.records import MessageStatus
from tests.fakes.memory_store import MemoryStore
from tests.fakes.model import ScriptedModel
from tests.fakes.script import Cut, Fail, Text, ToolCalls
from tools.approval import default_policies


class RecordingSink:
    """A `RunSink` that keeps what the run made visible, and switches agent on a handoff."""

    def __init__(self, agent: str = "coder") -> None:
        self.agent_name = agent
        self.tokens: list[str] = []
        self.events: list[s.RunEvent] = []
        self.client_tools: dict[str, dict[str, object]] = {}
        self.stopping = False

    @property
    def agent(self) -> AgentSpec:
        return AGENTS[self.agent_name]

    def token(self, text: str) -> None:
        self.tokens.append(text)

    def emit(self, event: s.RunEvent) -> None:
        if isinstance(event, s.AgentSwitched):
            self.agent_name = event.to_agent
        self.events.append(event)


async def advance(
    *replies: object, agent: str = "coder", max_steps: int = 8
) -> tuple[TurnOutcome, RecordingSink, MemoryStore, ScriptedModel]:
    store, model = MemoryStore(), ScriptedModel(*replies)  # type: ignore[arg-type]
    engine = TurnEngine(model, Router(model), ToolRunner(default_policies(), 5), max_steps)
    sink = RecordingSink(agent)
    await store.add_message("s", "user", "go")
    outcome = await engine.advance(s.RunContext("s", store, sink), user_text="go")
    return outcome, sink, store, model


async def test_a_plain_answer_ends_the_turn() -> None:
    outcome, sink, store, model = await advance(Text(["a", "b"]))
    assert outcome == TurnOutcome("completed", 2)
    assert (sink.tokens, sink.events) == (["a", "b"], [s.MessageEnded(), s.MessageStored(2)])
    model.assert_complete()


async def test_an_ide_call_interrupts_the_turn_and_a_hub_call_does_not() -> None:
    calls = ToolCalls(
        [
            ("q1", "switch_mode", {"mode": "ask", "reason": "a question"}),
            ("r1", "read_file", {"path": "a.py"}),
        ]
    )
    outcome, sink, _, _ = await advance(calls)
    assert outcome.reason == "waiting" and outcome.waiting_for == ("r1",)
    assert [type(e) for e in sink.events] == [
        s.MessageEnded,
        s.MessageStored,
        s.ToolStarted,
        s.AgentSwitched,
        s.ToolFinished,
        s.ToolStarted,
        s.ToolAnnounced,
        s.Awaiting,
    ]
    assert sink.agent_name == "ask"


async def test_a_failed_or_cut_stream_is_an_error_with_the_partial_answer_kept() -> None:
    outcome, sink, _, _ = await advance(Fail(503, "busy"))
    assert outcome == TurnOutcome("error")
    assert sink.events[-1] == s.RunFailed(
        ErrorCode.LLM_ERROR, "LLM endpoint answered HTTP 503: busy"
    )
    outcome, sink, store, _ = await advance(Cut(["half"]))
    assert outcome.reason == "error"
    assert (store.messages[-1].content, store.messages[-1].status) == (
        "half",
        MessageStatus.INTERRUPTED,
    )


async def test_a_model_that_never_stops_calling_tools_is_stopped() -> None:
    again = [
        ToolCalls([(f"m{n}", "switch_mode", {"mode": "coder", "reason": "x"})]) for n in range(3)
    ]
    outcome, sink, _, _ = await advance(*again, max_steps=2)
    assert outcome.reason == "error"
    assert sink.events[-1] == s.RunFailed(
        ErrorCode.MAX_STEPS, "stopped after 2 model calls in one turn"
    )


async def test_attempt_completion_is_the_final_answer() -> None:
    done = ToolCalls([("f1", "attempt_completion", {"result": "All done."})])
    outcome, sink, store, _ = await advance(done)
    assert outcome == TurnOutcome("completed", store.messages[-1].id)
    assert sink.tokens == ["All done."]
    assert store.messages[-1].content == "All done."


async def test_a_model_call_is_bounded_as_a_whole_however_steadily_tokens_come() -> None:
    store, model = MemoryStore(), ScriptedModel(Text(["a", "b", "c", "d"], delay=0.1))
    tools = ToolRunner(default_policies(), 5)
    engine = TurnEngine(model, Router(model), tools, model_call_seconds=0.25)
    sink = RecordingSink()
    await store.add_message("s", "user", "go")
    outcome = await engine.advance(s.RunContext("s", store, sink))
    assert outcome.reason == "error"
    failed = sink.events[-1]
    assert isinstance(failed, s.RunFailed) and failed.code is ErrorCode.LLM_ERROR
    assert "longer than 0.25s" in failed.message
    assert (store.messages[-1].content, store.messages[-1].status) == (
        "ab",
        MessageStatus.INTERRUPTED,
    )


async def test_model_calls_are_bounded_and_notices_stay_out_of_the_context() -> None:
    store, model = MemoryStore(), ScriptedModel(Text(["ok"]))
    engine = TurnEngine(model, Router(model), ToolRunner(default_policies(), 5), max_tokens=77)
    await store.add_message("s", "system", "Switched from ask to coder: x", notice=True)
    await store.add_message("s", "user", "go")
    await engine.advance(s.RunContext("s", store, RecordingSink()))
    request = model.requests[0]
    assert request["max_tokens"] == 77
    assert request["messages"][1:] == [{"role": "user", "content": "go"}]


async def test_routing_is_capped_and_a_switch_to_the_same_agent_changes_nothing() -> None:
    route = ToolCalls(
        [("r", "route_to_agent", {"agent": "coder", "confidence": 1, "reason": "it is code"})]
    )
    switch = ToolCalls([("m", "switch_mode", {"mode": "coder", "reason": "already"})])
    outcome, sink, store, model = await advance(route, switch, Text(["done"]), agent="orchestrator")
    assert model.requests[0]["max_tokens"] == 128  # the routing call's own cap
    switches = [e for e in sink.events if isinstance(e, s.AgentSwitched)]
    assert [(e.from_agent, e.to_agent) for e in switches] == [("orchestrator", "coder")]
    assert [m.content for m in store.messages if m.notice] == [
        "Switched from orchestrator to coder: it is code"
    ]


async def test_a_call_that_cannot_run_goes_back_to_the_model_without_asking_anyone() -> None:
    windows = ToolCalls([("w1", "write_file", {"path": "C:\\Users\\me\\notes.md", "content": "x"})])
    outcome, sink, store, model = await advance(windows, Text(["sorry"]))
    assert outcome.reason == "completed"
    assert not any(isinstance(e, s.ToolAnnounced) for e in sink.events)  # nobody was asked
    finished = next(e for e in sink.events if isinstance(e, s.ToolFinished))
    assert finished.status == "failed" and "is absolute" in finished.content
    assert store.approvals == {}
    told = model.requests[1]["messages"][-1]
    assert told["role"] == "tool" and "relative to the workspace root" in told["content"]


async def test_in_the_text_format_a_written_call_is_a_call_like_any_other() -> None:
    store, model = (
        MemoryStore(),
        ScriptedModel(
            Text(['Reading.<tool_call>{"name": "read_file", ', '"arguments": {"path": "a.py"}}']),
            Text(
                ['<tool_call>{"name": "write_file", "arguments": {"path": "b.md", "content": "x"}}']
            ),
        ),
    )
    tools = ToolRunner(default_policies(), 5)
    engine = TurnEngine(model, Router(model), tools, tool_format="text")
    sink = RecordingSink()
    await store.add_message("s", "user", "go")
    outcome = await engine.advance(s.RunContext("s", store, sink))
    assert outcome.reason == "waiting" and sink.tokens == ["Reading."]
    (call_id,) = outcome.waiting_for
    assert store.messages[-1].tool_calls is not None  # stored as a native call
    request = model.requests[0]
    assert request["tools"] is None and "<tool_call>" in request["messages"][0]["content"]

    await store.add_message("s", "tool", "print(1)", agent="coder", tool_call_id=call_id)
    outcome = await engine.advance(s.RunContext("s", store, sink))
    approval = [e for e in sink.events if isinstance(e, s.ToolAnnounced)][-1]
    assert (approval.tool_name, approval.requires_approval) == ("write_file", True)
    context = model.requests[1]["messages"]
    assert context[-2]["content"].startswith('Reading.\n<tool_call>\n{"name":"read_file"')
    assert context[-1] == {
        "role": "user",
        "content": '<tool_result name="read_file">\nprint(1)\n</tool_result>',
    }


async def test_a_clients_own_tool_is_offered_and_called_in_the_text_format() -> None:
    store = MemoryStore()
    model = ScriptedModel(Text(['<tool_call>{"name": "pick_color", "arguments": {"hue": 3}}']))
    engine = TurnEngine(model, Router(model), ToolRunner(default_policies(), 5), tool_format="text")
    sink = RecordingSink()
    schema = {"type": "object", "properties": {"hue": {"type": "integer"}}, "required": ["hue"]}
    sink.client_tools = {
        "pick_color": {
            "type": "function",
            "function": {
                "name": "pick_color",
                "description": "Ask for a color",
                "parameters": schema,
            },
        }
    }
    await store.add_message("s", "user", "go")
    outcome = await engine.advance(s.RunContext("s", store, sink))
    assert (
        "- pick_color(hue: integer): Ask for a color" in model.requests[0]["messages"][0]["content"]
    )
    assert outcome.reason == "waiting"  # the client runs it and sends the result
    (announced,) = [e for e in sink.events if isinstance(e, s.ToolAnnounced)]
    assert (announced.tool_name, announced.arguments) == ("pick_color", {"hue": 3})


async def test_the_oldest_messages_give_way_and_a_message_too_big_fails_typed() -> None:
    store, model = MemoryStore(), ScriptedModel(Text(["ok"]))
    tools = ToolRunner(default_policies(), 5)
    engine = TurnEngine(model, Router(model), tools, max_tokens=100, context_tokens=2400)
    for n in range(20):
        await store.add_message("s", "user", f"old message {n} " + "x" * 300)
    await store.add_message("s", "user", "newest")
    await engine.advance(s.RunContext("s", store, RecordingSink()))
    sent = model.requests[0]["messages"]
    assert sent[-1] == {"role": "user", "content": "newest"}
    assert 1 < len(sent) < 21 and "left out to fit" in sent[0]["content"]

    await store.add_message("s", "user", "y" * 20_000)
    sink = RecordingSink()
    outcome = await engine.advance(s.RunContext("s", store, sink))
    assert outcome.reason == "error" and len(model.requests) == 1  # no call was made
    failed = sink.events[-1]
    assert isinstance(failed, s.RunFailed) and failed.code is ErrorCode.CONTEXT_TOO_LONG
    assert "AGENT_RUNTIME__LLM_CONTEXT_TOKENS=2400" in failed.message


class CharCounter:
    """A `TokenCounter` whose tokenizer gives one token per character, three times what the
    byte estimate reckons for ASCII: the count must leave out more than the estimate did."""

    def __init__(self) -> None:
        self.counts: list[int] = []

    async def count(self, messages: list[dict[str, object]], tools: object) -> int | None:
        self.counts.append(sum(len(str(m["content"])) for m in messages))
        return self.counts[-1]


async def test_the_servers_count_leaves_out_what_the_estimate_let_through() -> None:
    store, model, counter = MemoryStore(), ScriptedModel(Text(["ok"])), CharCounter()
    tools = ToolRunner(default_policies(), 5)
    engine = TurnEngine(
        model, Router(model), tools, max_tokens=100, context_tokens=2400, tokens=counter
    )
    for n in range(6):
        await store.add_message("s", "user", "x" * 600 + str(n))
    await engine.advance(s.RunContext("s", store, RecordingSink()))
    sent = model.requests[0]["messages"]
    assert len(counter.counts) > 1 and counter.counts[-1] + 100 <= 2400
    assert sent[-1]["content"].endswith("5") and "left out to fit" in sent[0]["content"]
    estimated = TurnEngine(model, Router(model), tools, max_tokens=100, context_tokens=2400)
    model.push(Text(["ok"]))
    await store.add_message("s", "user", "x" * 600 + "6")
    await estimated.advance(s.RunContext("s", store, RecordingSink()))
    assert len(sent) < len(model.requests[1]["messages"]) - 1  # the estimate alone kept more


async def test_a_deny_rule_refuses_a_call_without_asking_and_wins_over_an_allow() -> None:
    store, model = (
        MemoryStore(),
        ScriptedModel(
            ToolCalls([("d-1", "execute_command", {"command": "git push --force"})]), Text(["ok"])
        ),
    )
    await store.add_allow_rule("s", "execute_command", "git", "rest", "allow")
    await store.add_allow_rule("s", "execute_command", "git push", "rest", "deny")
    engine = TurnEngine(model, Router(model), ToolRunner(default_policies(), 5))
    sink = RecordingSink()
    await store.add_message("s", "user", "push it")
    outcome = await engine.advance(s.RunContext("s", store, sink))
    assert outcome.reason == "completed" and store.approvals == {}
    finished = next(e for e in sink.events if isinstance(e, s.ToolFinished))
    assert finished.status == "refused" and "deny rule" in finished.content


async def test_rejecting_with_always_deny_adds_the_rule() -> None:
    outcome, sink, store, _ = await advance(
        ToolCalls([("d-2", "write_file", {"path": "secrets.env", "content": "x"})])
    )
    assert outcome.waiting_for == ("d-2",)
    decision = approvals.Decision("d-2", "reject", feedback="never", always_deny=True)
    await approvals.decide(store, "s", decision, approvals.Decider("ide", "ide:1"))
    (rule,) = await store.allow_rules("s")
    assert (rule.tool_name, rule.pattern, rule.effect) == ("write_file", "secrets.env", "deny")
