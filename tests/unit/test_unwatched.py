"""Which approvals the webhook tells of, and when: after the grace, once each, never while
someone watches."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.run.steps import Wait
from hub.webhooks import UnwatchedApprovals


class Notifier:
    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    def notify(self, session_id: str, wait: Wait) -> None:
        self.told.append((session_id, wait.call_id))


def approval(call_id: str) -> Wait:
    return Wait(call_id, "approval", "write_file", {"path": "a"}, "coder")


async def test_told_once_after_the_grace_and_not_when_watched_again() -> None:
    notifier, waiting, watched = Notifier(), [approval("c1")], [False]
    unwatched = UnwatchedApprovals(
        notifier,  # the fake records what it is told
        "s1",
        lambda: [] if watched[0] else list(waiting),
        grace_seconds=0.05,
    )
    unwatched.look()
    unwatched.look()  # looked at twice within the grace: one check
    await asyncio.sleep(0.1)
    assert notifier.told == [("s1", "c1")]
    waiting.append(approval("c2"))
    unwatched.look()
    watched[0] = True  # an IDE came back within the grace
    await asyncio.sleep(0.1)
    assert notifier.told == [("s1", "c1")]
    watched[0] = False
    unwatched.look()
    await asyncio.sleep(0.1)
    assert notifier.told == [("s1", "c1"), ("s1", "c2")]  # c1 not again


async def test_closing_cancels_a_pending_look() -> None:
    notifier: Any = Notifier()
    unwatched = UnwatchedApprovals(notifier, "s1", lambda: [approval("c1")], grace_seconds=0.05)
    unwatched.look()
    unwatched.close()
    await asyncio.sleep(0.1)
    assert notifier.told == []
