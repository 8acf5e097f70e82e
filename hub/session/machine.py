"""The session's state machine, sans I/O: what runs next, and which state the session is in.

It takes inputs (a message, a continuation, a cancel, a run's end, waits added or answered) and
returns the effects its driver must carry out (`StartRun`, `CancelRun`, `Queued`); it never
awaits, owns no task and no timer. Every change of state goes through `_move`, the one place
that checks a transition is legal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from agents.run.steps import Wait
from agents.vocab import MessageRole, RunState


class SessionState(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    WAITING_TOOL = "waiting_tool"
    WAITING_ANSWER = "waiting_answer"
    CANCELLING = "cancelling"
    CLOSED = "closed"


S = SessionState
WAITING = frozenset({S.WAITING_APPROVAL, S.WAITING_TOOL, S.WAITING_ANSWER})
_RESTING = frozenset({S.IDLE, *WAITING})
_LEGAL: dict[SessionState, frozenset[SessionState]] = {
    S.IDLE: frozenset({S.RUNNING, S.CLOSED, *WAITING}),  # waits come back on restore
    S.RUNNING: frozenset({S.RUNNING, S.CANCELLING, S.CLOSED, *_RESTING}),
    S.CANCELLING: frozenset({S.RUNNING, S.CLOSED, *_RESTING}),
    **{w: frozenset({S.RUNNING, S.CLOSED, *_RESTING}) for w in WAITING},
    S.CLOSED: frozenset(),
}
_WIRE: dict[SessionState, RunState] = {
    S.IDLE: "idle",
    S.RUNNING: "running",
    S.CANCELLING: "running",
    S.WAITING_APPROVAL: "waiting",
    S.WAITING_TOOL: "waiting",
    S.WAITING_ANSWER: "waiting",
    S.CLOSED: "idle",
}


class IllegalTransition(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Work:
    run_id: str
    # abandon_and_go_on: answer the parked calls as cancelled, then continue (a plan's next step)
    kind: Literal["message", "continue", "abandon", "abandon_and_go_on"]
    role: MessageRole = "user"
    content: str = ""
    queued_id: int | None = None  # stored while it waits (so a crash does not lose it)
    author: str | None = None  # who sent the message


@dataclass(frozen=True, slots=True)
class StartRun:
    work: Work


@dataclass(frozen=True, slots=True)
class CancelRun:
    pass


@dataclass(frozen=True, slots=True)
class Queued:
    """A message waits behind the turn in progress, at this position."""

    position: int
    content: str


Effect = StartRun | CancelRun | Queued


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


class SessionMachine:
    def __init__(self) -> None:
        self.state = S.IDLE
        self.running: Work | None = None
        # A list, not a deque: a deque takes ~700 bytes even empty, and every idle session has
        # this queue, nearly always empty.
        self.queue: list[Work] = []
        self.next_run: Work | None = None  # a continuation or abandon: runs before the queue
        self.waits: dict[str, Wait] = {}

    @property
    def run_state(self) -> RunState:
        return _WIRE[self.state]

    def question(self) -> Wait | None:
        """The follow-up question the user's next message answers, if one is open."""
        return next((w for w in self.waits.values() if w.kind == "answer"), None)

    # --- inputs ---------------------------------------------------------------------------

    def message(self, work: Work, *, interrupt: bool = False) -> list[Effect]:
        """Run this message now, after the turn in progress and the messages before it, or
        (`interrupt`) after stopping the turn in progress. A closed session takes none."""
        if self.state is S.CLOSED:
            return []
        if interrupt:
            stopped, effects = self.cancel()
            if stopped:
                self.queue.insert(0, work)
                return effects + self._advance()
        busy = self.state is not S.IDLE or bool(self.queue)
        self.queue.append(work)
        queued: list[Effect] = [Queued(len(self.queue), work.content)] if busy else []
        return queued + self._advance()

    def go_on(self) -> tuple[str, list[Effect]]:
        """Continue the parked turn (once, however many inputs arrive together)."""
        if self.next_run is None or self.next_run.kind != "continue":
            self.next_run = Work(new_run_id(), "continue")
        return self.next_run.run_id, self._advance()

    def cancel(self) -> tuple[bool, list[Effect]]:
        """Stop the turn: the running one, or the one parked on calls; queued messages stay.
        False when there is nothing to stop."""
        if self.state is S.CANCELLING:
            return True, []  # once is enough: the run is storing what it had
        if self.state is S.RUNNING:
            self._move(S.CANCELLING)
            return True, [CancelRun()]
        if self.waits and self.state is not S.CLOSED:
            self.next_run = Work(new_run_id(), "abandon")
            return True, self._advance()
        return False, []

    def cancel_and_go_on(self) -> tuple[bool, list[Effect]]:
        """Stop the turn as `cancel` does, then continue it: a plan goes on to its next step."""
        if self.state in (S.RUNNING, S.CANCELLING):
            stopped, effects = self.cancel()
            self.next_run = Work(new_run_id(), "continue")  # started once the run has ended
            return stopped, effects
        if self.waits and self.state is not S.CLOSED:
            self.next_run = Work(new_run_id(), "abandon_and_go_on")
            return True, self._advance()
        return False, []

    def run_ended(self) -> list[Effect]:
        self.running = None
        return self._advance()

    def awaiting(self, wait: Wait) -> None:
        self.waits[wait.call_id] = wait
        if self.running is None:
            self._rest()

    def answered(self, call_id: str) -> None:
        self.waits.pop(call_id, None)
        if self.running is None:
            self._rest()

    def close(self) -> list[Effect]:
        running = self.running is not None
        self.queue.clear()
        self.next_run = None
        self.waits.clear()
        self._move(S.CLOSED)
        return [CancelRun()] if running else []

    # --- transitions ----------------------------------------------------------------------

    def _advance(self) -> list[Effect]:
        """The one place that decides what runs next: a continuation of the parked turn
        first, then queued messages (not while the turn is parked)."""
        if self.running is not None or self.state is S.CLOSED:
            return []
        work = self.next_run
        if work is not None:
            self.next_run = None
        elif self.queue and not self.waits:
            work = self.queue.pop(0)
        if work is None:
            self._rest()
            return []
        self.running = work
        self._move(S.RUNNING)
        return [StartRun(work)]

    def _rest(self) -> None:
        kinds = {w.kind for w in self.waits.values()}
        if not kinds:
            self._move(S.IDLE)
        elif "approval" in kinds or "plan" in kinds:
            self._move(S.WAITING_APPROVAL)
        elif "answer" in kinds:
            self._move(S.WAITING_ANSWER)
        else:
            self._move(S.WAITING_TOOL)

    def _move(self, to: SessionState) -> None:
        if to is self.state and to is not S.RUNNING:
            return
        if to not in _LEGAL[self.state]:
            raise IllegalTransition(f"{self.state} → {to}")
        self.state = to
