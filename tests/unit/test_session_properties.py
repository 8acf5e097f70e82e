"""Any sequence of commands, in any order, at any moment of a turn: the entry point never
raises, every command gets exactly one answer, and the session is always in a legal state."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from agents.definitions import AGENTS
from agents.vocab import ErrorCode
from hub import protocol as p
from hub.session.commands import Refused
from hub.session.machine import WAITING, SessionState
from tests.fakes.script import Fail, Hang, Text, ToolCalls
from tests.fakes.session import Rig, rig
from tests.frames import Recorder, send

AGENT_NAMES = [*AGENTS, "wizard"]
TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=20)  # a valid frame's text
REPLY_KINDS = ["text", "write", "read", "ask", "fail", "hang", "switch"]


class SessionCommands(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.crashes: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.crashes.append(context))
        self.rig: Rig = self.loop.run_until_complete(rig(frames_per_second=1e6))
        self.console = Recorder("console:1")
        self.loop.run_until_complete(self.rig.live.attach(self.console, "console"))
        self.ids = itertools.count(1)
        self.call_ids: list[str] = ["nope", "x" * 128]

    def teardown(self) -> None:
        self.rig.model.release()
        self.loop.run_until_complete(self.rig.live.close())
        self.loop.close()

    def _reply(self, kind: str) -> Any:
        call_id = f"c{next(self.ids)}"
        self.call_ids.append(call_id)
        match kind:
            case "write":
                return ToolCalls([(call_id, "write_file", {"path": "a.py", "content": "x"})])
            case "read":
                return ToolCalls([(call_id, "read_file", {"path": "a.py"})])
            case "ask":
                return ToolCalls([(call_id, "ask_followup_question", {"question": "which?"})])
            case "switch":
                return ToolCalls([(call_id, "switch_mode", {"mode": "ask", "reason": "why"})])
            case "fail":
                return Fail(500, "overloaded")
            case "hang":
                return Hang(["slow"])
        return Text(["ok"])

    def _submit(self, frame: p.ClientFrame, by: Recorder) -> None:
        # A sender that is not attached receives only the replies to its own command.
        sender = Recorder(by.name)
        outcome = self.loop.run_until_complete(send(self.rig.live, frame, sender))
        # Exactly one answer: a refusal is the outcome and one error frame to its sender.
        if isinstance(outcome, Refused):
            assert sender.types() == ["error"], (frame, outcome, sender.frames)
            assert sender.frames[0]["code"] == outcome.code
            assert outcome.code is not ErrorCode.INTERNAL_ERROR, outcome
        else:
            assert sender.types() == (["pong"] if isinstance(frame, p.Ping) else []), frame

    def _pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.call_ids))

    @rule(kind=st.sampled_from(REPLY_KINDS), interrupt=st.booleans(), text=TEXT)
    def message(self, kind: str, interrupt: bool, text: str) -> None:
        self.rig.model.push(self._reply(kind), Text(["after"]))
        self._submit(p.UserMessage(content=text, interrupt=interrupt), self.rig.ide)

    @rule(data=st.data(), error=st.none() | st.just("failed"))
    def tool_result(self, data: st.DataObject, error: str | None) -> None:
        self._submit(p.ToolResult(call_id=self._pick(data), result="r", error=error), self.rig.ide)

    @rule(
        data=st.data(),
        verdict=st.sampled_from(["approve", "edit", "reject"]),
        edit=st.none() | st.just({"path": "b.py"}) | st.just({"path": 3}),
        by_ide=st.booleans(),
        always=st.booleans(),
    )
    def decide(
        self, data: st.DataObject, verdict: Any, edit: Any, by_ide: bool, always: bool
    ) -> None:
        frame = p.HitlDecision(
            call_id=self._pick(data), decision=verdict, modified_arguments=edit, always_allow=always
        )
        self._submit(frame, self.rig.ide if by_ide else self.console)

    @rule(agent=st.sampled_from(AGENT_NAMES), content=st.sampled_from(["", "go"]))
    def switch(self, agent: str, content: str) -> None:
        self.rig.model.push(Text(["switched"]))
        self._submit(p.SwitchAgent(agent_type=agent, content=content), self.console)

    @rule()
    def cancel(self) -> None:
        self._submit(p.Cancel(), self.console)

    @rule()
    def ping(self) -> None:
        self._submit(p.Ping(data="x"), self.rig.ide)

    @rule()
    def plan_decision(self) -> None:
        self._submit(p.PlanDecision(approval_request_id="a", decision="approve"), self.rig.ide)

    @rule()
    def release_hanging_streams(self) -> None:
        self.rig.model.release()

    @rule(steps=st.integers(1, 20))
    def let_the_turn_run(self, steps: int) -> None:
        for _ in range(steps):
            self.loop.run_until_complete(asyncio.sleep(0))

    @invariant()
    def nothing_crashed(self) -> None:
        assert self.crashes == []

    @invariant()
    def the_state_matches_the_facts(self) -> None:
        machine = self.rig.live.machine
        running = machine.running is not None
        assert (machine.state in (SessionState.RUNNING, SessionState.CANCELLING)) == running
        if machine.state in WAITING:
            assert machine.waits
        if machine.state is SessionState.IDLE:
            assert not machine.waits and not machine.queue and machine.next_run is None


SessionCommands.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_session_commands = SessionCommands.TestCase
