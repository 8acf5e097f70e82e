# ruff: noqa: E501  (snapshot lines are whole frames)
"""Whole frame sequences of a session on the in-memory fakes: no socket, no database, no HTTP.

Each test drives `LiveSession.submit` as a transport would and compares every frame the IDE
received, in order, with a snapshot (run ids, epochs and times normalised).
"""

from __future__ import annotations

import asyncio
from textwrap import dedent

import pytest

from db.records import ApprovalStatus, MessageStatus, ToolCallStatus
from hub import protocol as p
from hub.session import driver
from tests.fakes.memory_store import MemoryStore
from tests.fakes.script import Hang, Text, ToolCalls
from tests.fakes.session import Rig, rig, snapshot
from tests.frames import Recorder, say, send
from tools.approval import ToolPolicy


def expect(r: Rig, text: str) -> None:
    assert snapshot(r.ide.frames) == dedent(text).strip()


def Recorder_console() -> Recorder:
    return Recorder("console:1")


def write(call_id: str, path: str = "a.py", content: str = "x = 1\n") -> ToolCalls:
    return ToolCalls([(call_id, "write_file", {"path": path, "content": content})])


async def test_a_plain_turn() -> None:
    r = await rig(Text(["Hel", "lo"]))
    await say(r.live, "hi")
    await r.ide.until_type("run_finished")
    expect(
        r,
        """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=False token='Hel'
        3 assistant_message is_final=False token='lo'
        4 assistant_message is_final=True token=''
        5 run_finished message_id=2 reason='completed' run_id='run1' waiting_for=[]
        """,
    )
    assert [(m.role, m.content) for m in r.store.messages] == [
        ("user", "hi"),
        ("assistant", "Hello"),
    ]
    r.model.assert_complete()


async def test_an_ide_tool_call_parks_the_turn_until_its_result() -> None:
    read = ToolCalls([("c1", "read_file", {"path": "a.py"})], ["Reading."])
    r = await rig(read, Text(["Done."]))
    await say(r.live, "read a.py")
    await r.ide.until_type("run_finished")
    assert r.live.machine.state == "waiting_tool"
    await send(r.live, p.ToolResult(call_id="c1", result="x = 1"), r.ide)
    await r.ide.until_type("run_finished", 2)
    expect(r, SNAPSHOTS["tool_call"])
    assert r.model.requests[1]["messages"][-1] == {
        "role": "tool",
        "content": "x = 1",
        "tool_call_id": "c1",
    }


async def test_an_approval_approved_by_the_console_is_sent_to_the_ide() -> None:
    r = await rig(write("w1"), Text(["Wrote it."]))
    await say(r.live, "write")
    await r.ide.until_type("run_finished")
    assert r.live.machine.state == "waiting_approval"
    await send(r.live, p.HitlDecision(call_id="w1", decision="approve"), Recorder_console())
    await r.ide.until_type("run_finished", 2)
    await send(r.live, p.ToolResult(call_id="w1", result="ok"), r.ide)
    await r.ide.until_type("run_finished", 3)
    expect(r, SNAPSHOTS["approve"])


async def test_an_approval_approved_in_band_by_the_ide_is_run_by_the_ide() -> None:
    r = await rig(write("w1"), Text(["Wrote it."]))
    await say(r.live, "write")
    await r.ide.until_type("run_finished")
    await send(r.live, p.HitlDecision(call_id="w1", decision="approve"), r.ide)
    await send(r.live, p.ToolResult(call_id="w1", result="ok"), r.ide)
    await r.ide.until(
        lambda fs: fs[-1]["type"] == "run_finished" and fs[-1]["reason"] == "completed"
    )
    # No second tool_call: the IDE that approved in-band runs the call itself.
    assert [f["requires_approval"] for f in r.ide.of_type("tool_call")] == [True]
    assert r.store.approvals["w1"].decider_role == "ide"


async def test_an_edited_approval_runs_the_edited_arguments() -> None:
    r = await rig(write("w1"), Text(["Wrote it."]))
    await say(r.live, "write")
    await r.ide.until_type("run_finished")
    edit = p.HitlDecision(call_id="w1", decision="edit", modified_arguments={"path": "b.py"})
    await send(r.live, edit, Recorder_console())
    await r.ide.until_type("run_finished", 2)
    expect(r, SNAPSHOTS["edit"])
    assert r.store.calls["w1"].arguments["path"] == "b.py"


async def test_a_rejected_approval_tells_the_model_why() -> None:
    r = await rig(write("w1"), Text(["Understood."]))
    await say(r.live, "write")
    await r.ide.until_type("run_finished")
    reject = p.HitlDecision(call_id="w1", decision="reject", feedback="not now")
    await send(r.live, reject, Recorder_console())
    await r.ide.until_type("run_finished", 2)
    expect(r, SNAPSHOTS["reject"])
    told = r.model.requests[1]["messages"][-1]["content"]
    assert told == "error: the user rejected this call: not now"
    late = await send(r.live, p.HitlDecision(call_id="w1", decision="approve"), r.ide)
    assert late.kind == "refused" and late.code == "already_decided"


async def test_an_approval_nobody_decides_expires_after_a_warning() -> None:
    policies = {"write_file": ToolPolicy(timeout_seconds=0.3)}
    r = await rig(write("w1"), Text(["Too late."]), policies=policies, warning_seconds=0.2)
    await say(r.live, "write")
    await r.ide.until_type("run_finished", 2)
    expect(r, SNAPSHOTS["expiry"])
    assert r.store.approvals["w1"].status is ApprovalStatus.EXPIRED


async def test_a_cancel_during_the_stream_keeps_the_partial_answer() -> None:
    r = await rig(Hang(["par", "tial"]))
    await say(r.live, "hi")
    await r.ide.until(lambda fs: sum(f["type"] == "assistant_message" for f in fs) == 2)
    await send(r.live, p.Cancel(), r.ide)
    await r.ide.until_type("run_finished")
    expect(r, SNAPSHOTS["cancel_stream"])
    assert r.store.messages[-1].status is MessageStatus.CANCELLED


async def test_a_cancel_during_an_approval_wait_cancels_the_call() -> None:
    r = await rig(write("w1"))
    await say(r.live, "write")
    await r.ide.until_type("run_finished")
    outcome = await send(r.live, p.Cancel(), r.ide)
    assert outcome.kind == "accepted" and outcome.stopped
    await r.ide.until_type("run_finished", 2)
    expect(r, SNAPSHOTS["cancel_wait"])
    assert r.store.calls["w1"].status is ToolCallStatus.CANCELLED
    assert r.live.machine.state == "idle"


class SlowToMarkRuns(MemoryStore):
    """A store whose write of a run's start or end (`marks`) waits until the test lets it land."""

    def __init__(self, marks: bool) -> None:
        super().__init__()
        self.marks = marks
        self.marking, self.land = asyncio.Event(), asyncio.Event()

    async def mark_running(self, session_id: str, running: bool) -> None:
        if running is self.marks:
            self.marking.set()
            await self.land.wait()
        await super().mark_running(session_id, running)


async def ended_and_went_on(r: Rig) -> None:
    """The cut run ended, and the session takes the next message, not a queue forever."""
    await r.ide.until_type("run_finished")
    await say(r.live, "second")
    await r.ide.until_type("run_finished", 2)
    assert r.store.running["s"] is False
    assert r.live.machine.state == "idle"


async def test_a_cancel_as_the_run_ends_neither_cuts_its_end_nor_wedges_the_session() -> None:
    store = SlowToMarkRuns(marks=False)
    r = await rig(Text(["one"]), Text(["two"]), store=store)
    await say(r.live, "first")
    await store.marking.wait()
    assert r.live.cancel() is True  # the machine still counts the run as running
    store.land.set()
    await ended_and_went_on(r)
    assert [f["reason"] for f in r.ide.of_type("run_finished")] == ["completed", "completed"]


async def test_a_cancel_before_the_run_task_starts_still_ends_the_run() -> None:
    r = await rig(Text(["two"]))
    await say(r.live, "first")  # its task is created, not yet started
    assert r.live.cancel() is True
    await ended_and_went_on(r)
    assert [f["reason"] for f in r.ide.of_type("run_finished")] == ["cancelled", "completed"]
    assert [m.content for m in r.store.messages if m.role == "user"] == ["first", "second"]


async def test_a_cancel_while_the_run_stores_its_start_keeps_the_message() -> None:
    store = SlowToMarkRuns(marks=True)
    r = await rig(Text(["two"]), store=store)
    await say(r.live, "first")
    await store.marking.wait()
    assert r.live.cancel() is True
    store.land.set()
    await ended_and_went_on(r)
    assert [f["reason"] for f in r.ide.of_type("run_finished")] == ["cancelled", "completed"]
    assert [m.content for m in r.store.messages if m.role == "user"] == ["first", "second"]
    r.model.assert_complete()  # the cancelled run never called the model


async def test_a_run_whose_end_never_lands_is_cut_on_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(driver, "CLOSE_GRACE_SECONDS", 0.2)
    store = SlowToMarkRuns(marks=False)  # and never lets it land
    r = await rig(Text(["one"]), store=store)
    await say(r.live, "first")
    await store.marking.wait()
    async with asyncio.timeout(5):
        await r.live.close()  # does not wait for the hung write forever
    assert r.store.running["s"] is True  # the write was cut, as the warning says


async def test_a_message_during_a_run_is_queued_and_runs_next() -> None:
    r = await rig(Hang(["one"]), Text(["two"]))
    await say(r.live, "first")
    await r.ide.until_type("assistant_message")
    await say(r.live, "second")
    r.model.release()
    await r.ide.until_type("run_finished", 2)
    expect(r, SNAPSHOTS["queued"])


async def test_an_interrupt_cancels_the_run_and_runs_the_new_message() -> None:
    r = await rig(Hang(["long"]), Text(["short"]))
    await say(r.live, "first")
    await r.ide.until_type("assistant_message")
    await send(r.live, p.UserMessage(content="instead", interrupt=True), r.ide)
    await r.ide.until_type("run_finished", 2)
    expect(r, SNAPSHOTS["interrupt"])


async def test_the_orchestrator_hands_off_and_an_agent_hands_on() -> None:
    route = ToolCalls(
        [("r", "route_to_agent", {"agent": "debug", "confidence": 0.9, "reason": "a crash"})]
    )
    switch = ToolCalls([("m1", "switch_mode", {"mode": "coder", "reason": "needs a fix"})])
    r = await rig(route, switch, Text(["Fixed."]), agent="orchestrator")
    await say(r.live, "it crashes")
    await r.ide.until_type("run_finished")
    expect(r, SNAPSHOTS["handoff"])
    assert r.store.agents["s"] == "coder"
    assert r.live.current_agent == "coder"


SNAPSHOTS: dict[str, str] = {
    "cancel_wait": """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=True token=''
        3 tool_call agent='coder' arguments={'path': 'a.py', 'content': 'x = 1\\n'} call_id='w1' diff=None expires_at=None requires_approval=True tool_name='write_file'
        4 run_finished message_id=2 reason='waiting' run_id='run1' waiting_for=['w1']
        5 run_started agent='coder' kind='continue' run_id='run2'
        6 approval_resolved arguments=None call_id='w1' decided_by='cancel' decision='cancelled' feedback=None
        7 tool_finished call_id='w1' content='cancelled by the user' status='cancelled' tool_name='write_file'
        8 run_finished message_id=None reason='cancelled' run_id='run2' waiting_for=[]
    """,
    "cancel_stream": """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=False token='par'
        3 assistant_message is_final=False token='tial'
        4 assistant_message is_final=True token=''
        5 run_finished message_id=2 reason='cancelled' run_id='run1' waiting_for=[]
    """,
    "queued": """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=False token='one'
        3 message_queued content='second' position=1
        4 assistant_message is_final=True token=''
        5 run_finished message_id=2 reason='completed' run_id='run1' waiting_for=[]
        6 run_started agent='coder' kind='message' run_id='run2'
        7 assistant_message is_final=False token='two'
        8 assistant_message is_final=True token=''
        9 run_finished message_id=4 reason='completed' run_id='run2' waiting_for=[]
    """,
    "reject": """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=True token=''
        3 tool_call agent='coder' arguments={'path': 'a.py', 'content': 'x = 1\\n'} call_id='w1' diff=None expires_at=None requires_approval=True tool_name='write_file'
        4 run_finished message_id=2 reason='waiting' run_id='run1' waiting_for=['w1']
        5 approval_resolved arguments=None call_id='w1' decided_by='console:1' decision='reject' feedback='not now'
        6 run_started agent='coder' kind='continue' run_id='run2'
        7 tool_finished call_id='w1' content='error: the user rejected this call: not now' status='rejected' tool_name='write_file'
        8 assistant_message is_final=False token='Understood.'
        9 assistant_message is_final=True token=''
        10 run_finished message_id=4 reason='completed' run_id='run2' waiting_for=[]
    """,
    "approve": """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=True token=''
        3 tool_call agent='coder' arguments={'path': 'a.py', 'content': 'x = 1\\n'} call_id='w1' diff=None expires_at=None requires_approval=True tool_name='write_file'
        4 run_finished message_id=2 reason='waiting' run_id='run1' waiting_for=['w1']
        5 approval_resolved arguments={'path': 'a.py', 'content': 'x = 1\\n'} call_id='w1' decided_by='console:1' decision='approve' feedback=None
        6 run_started agent='coder' kind='continue' run_id='run2'
        7 tool_call agent='coder' arguments={'path': 'a.py', 'content': 'x = 1\\n'} call_id='w1' diff=None expires_at=None requires_approval=False tool_name='write_file'
        8 run_finished message_id=None reason='waiting' run_id='run2' waiting_for=['w1']
        9 run_started agent='coder' kind='continue' run_id='run3'
        10 tool_finished call_id='w1' content='ok' status='done' tool_name='write_file'
        11 assistant_message is_final=False token='Wrote it.'
        12 assistant_message is_final=True token=''
        13 run_finished message_id=4 reason='completed' run_id='run3' waiting_for=[]
    """,
    "expiry": """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=True token=''
        3 tool_call agent='coder' arguments={'path': 'a.py', 'content': 'x = 1\\n'} call_id='w1' diff=None expires_at='<expires_at>' requires_approval=True tool_name='write_file'
        4 run_finished message_id=2 reason='waiting' run_id='run1' waiting_for=['w1']
        5 approval_expiring call_id='w1' expires_at='<expires_at>'
        6 approval_resolved arguments=None call_id='w1' decided_by='timeout' decision='expired' feedback='nobody decided in time'
        7 run_started agent='coder' kind='continue' run_id='run2'
        8 tool_finished call_id='w1' content='error: nobody approved this call in time' status='expired' tool_name='write_file'
        9 assistant_message is_final=False token='Too late.'
        10 assistant_message is_final=True token=''
        11 run_finished message_id=4 reason='completed' run_id='run2' waiting_for=[]
    """,
    "edit": """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=True token=''
        3 tool_call agent='coder' arguments={'path': 'a.py', 'content': 'x = 1\\n'} call_id='w1' diff=None expires_at=None requires_approval=True tool_name='write_file'
        4 run_finished message_id=2 reason='waiting' run_id='run1' waiting_for=['w1']
        5 approval_resolved arguments={'path': 'b.py', 'content': 'x = 1\\n'} call_id='w1' decided_by='console:1' decision='edit' feedback=None
        6 run_started agent='coder' kind='continue' run_id='run2'
        7 tool_call agent='coder' arguments={'path': 'b.py', 'content': 'x = 1\\n'} call_id='w1' diff=None expires_at=None requires_approval=False tool_name='write_file'
        8 run_finished message_id=None reason='waiting' run_id='run2' waiting_for=['w1']
    """,
    "tool_call": """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=False token='Reading.'
        3 assistant_message is_final=True token=''
        4 tool_call agent='coder' arguments={'path': 'a.py'} call_id='c1' diff=None expires_at=None requires_approval=False tool_name='read_file'
        5 run_finished message_id=2 reason='waiting' run_id='run1' waiting_for=['c1']
        6 run_started agent='coder' kind='continue' run_id='run2'
        7 tool_finished call_id='c1' content='x = 1' status='done' tool_name='read_file'
        8 assistant_message is_final=False token='Done.'
        9 assistant_message is_final=True token=''
        10 run_finished message_id=4 reason='completed' run_id='run2' waiting_for=[]
    """,
    "interrupt": """
        0 session_ready current_agent='coder' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='coder' kind='message' run_id='run1'
        2 assistant_message is_final=False token='long'
        3 assistant_message is_final=True token=''
        4 run_finished message_id=2 reason='cancelled' run_id='run1' waiting_for=[]
        5 run_started agent='coder' kind='message' run_id='run2'
        6 assistant_message is_final=False token='short'
        7 assistant_message is_final=True token=''
        8 run_finished message_id=4 reason='completed' run_id='run2' waiting_for=[]
    """,
    "handoff": """
        0 session_ready current_agent='orchestrator' epoch='<epoch>' pending_approvals=[] protocol_version='1.0' resumed=False run_state='idle'
        1 run_started agent='orchestrator' kind='message' run_id='run1'
        2 agent_switched confidence='0.90' content='Switched from orchestrator to debug: a crash' from_agent='orchestrator' method='llm' reason='a crash' to_agent='debug'
        3 assistant_message is_final=True token=''
        4 agent_switched confidence=None content='Switched from debug to coder: needs a fix' from_agent='debug' method='agent' reason='needs a fix' to_agent='coder'
        5 tool_finished call_id='m1' content='switched to the coder agent: Writes, changes and refactors code.' status='done' tool_name='switch_mode'
        6 assistant_message is_final=False token='Fixed.'
        7 assistant_message is_final=True token=''
        8 run_finished message_id=6 reason='completed' run_id='run1' waiting_for=[]
    """,
}
