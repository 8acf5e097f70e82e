"""The session's state machine alone: inputs in, effects out, no loop, no task."""

from __future__ import annotations

import pytest

from agents.run.steps import Wait
from hub.session.machine import (
    CancelRun,
    IllegalTransition,
    Queued,
    SessionMachine,
    SessionState,
    StartRun,
    Work,
)


def message(text: str) -> Work:
    return Work(f"run-{text}", "message", content=text)


def wait(call_id: str, kind: str = "approval") -> Wait:
    return Wait(call_id, kind, "write_file", {}, "coder")  # type: ignore[arg-type]


def test_a_message_on_an_idle_session_starts_a_run_and_the_next_one_queues() -> None:
    machine = SessionMachine()
    assert machine.message(message("a")) == [StartRun(message("a"))]
    assert machine.state is SessionState.RUNNING
    assert machine.message(message("b")) == [Queued(1, "b")]
    assert machine.run_ended() == [StartRun(message("b"))]
    assert machine.run_ended() == []
    assert machine.state is SessionState.IDLE


def test_a_parked_turn_holds_the_queue_until_it_is_answered() -> None:
    machine = SessionMachine()
    machine.message(message("a"))
    machine.awaiting(wait("w1"))
    machine.awaiting(wait("c1", "tool_result"))
    assert machine.run_ended() == []
    assert machine.state is SessionState.WAITING_APPROVAL
    assert machine.message(message("b")) == [Queued(1, "b")]
    machine.answered("w1")
    assert machine.state is SessionState.WAITING_TOOL
    machine.answered("c1")
    run_id, effects = machine.go_on()
    assert effects == [StartRun(Work(run_id, "continue"))]
    assert machine.run_ended() == [StartRun(message("b"))]


def test_inputs_that_arrive_together_continue_the_turn_once() -> None:
    machine = SessionMachine()
    machine.message(message("a"))
    first, _ = machine.go_on()
    second, effects = machine.go_on()
    assert first == second and effects == []
    assert machine.run_ended() == [StartRun(Work(first, "continue"))]


def test_cancel_stops_a_run_once_and_abandons_a_parked_turn() -> None:
    machine = SessionMachine()
    assert machine.cancel() == (False, [])
    machine.message(message("a"))
    assert machine.cancel() == (True, [CancelRun()])
    assert machine.state is SessionState.CANCELLING
    assert machine.cancel() == (True, [])  # the run is already storing what it had
    machine.awaiting(wait("w1"))
    machine.run_ended()
    stopped, effects = machine.cancel()
    assert stopped and [type(e) for e in effects] == [StartRun]
    assert effects[0].work.kind == "abandon"  # type: ignore[union-attr]


def test_an_interrupt_cancels_the_run_and_goes_first() -> None:
    machine = SessionMachine()
    machine.message(message("a"))
    machine.message(message("b"))
    assert machine.message(message("now"), interrupt=True) == [CancelRun()]
    assert machine.run_ended() == [StartRun(message("now"))]


def test_a_closed_session_runs_nothing_and_cannot_reopen() -> None:
    machine = SessionMachine()
    machine.message(message("a"))
    assert machine.close() == [CancelRun()]
    assert machine.run_ended() == []
    assert machine.message(message("b")) == []
    with pytest.raises(IllegalTransition):
        machine._move(SessionState.RUNNING)


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (SessionState.IDLE, SessionState.CANCELLING),
        (SessionState.WAITING_TOOL, SessionState.CANCELLING),
        (SessionState.CLOSED, SessionState.IDLE),
    ],
)
def test_illegal_transitions_are_refused(start: SessionState, to: SessionState) -> None:
    machine = SessionMachine()
    machine.state = start
    with pytest.raises(IllegalTransition):
        machine._move(to)
