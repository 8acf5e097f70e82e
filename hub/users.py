"""Limits per user over all their sessions in this process: sockets, frames per second, and
sessions running at once. Sessions also have limits of their own; the internal key (no user)
has only those."""

from __future__ import annotations

from collections import Counter, defaultdict

from hub.ratelimit import RateLimit


class UserLimits:
    def __init__(
        self,
        max_connections: int = 64,
        messages_per_second: float = 40.0,
        max_running_sessions: int = 8,
    ) -> None:
        self.max_connections = max_connections
        self.messages_per_second = messages_per_second
        self.max_running_sessions = max_running_sessions
        self._connections: Counter[str] = Counter()
        self._rates: dict[str, RateLimit] = {}
        self._running: defaultdict[str, set[str]] = defaultdict(set)

    def may_connect(self, user: str) -> bool:
        return self._connections[user] < self.max_connections

    def connected(self, user: str) -> None:
        self._connections[user] += 1

    def disconnected(self, user: str) -> None:
        self._connections[user] -= 1
        if self._connections[user] <= 0:
            del self._connections[user]

    def take_message(self, user: str) -> bool:
        rate = self._rates.get(user)
        if rate is None:
            rate = self._rates[user] = RateLimit(self.messages_per_second)
        return rate.take()

    def may_start(self, user: str, session_id: str) -> bool:
        running = self._running.get(user, set())
        return session_id in running or len(running) < self.max_running_sessions

    def run_started(self, user: str, session_id: str) -> None:
        self._running[user].add(session_id)

    def run_ended(self, user: str, session_id: str) -> None:
        running = self._running.get(user)
        if running is not None:
            running.discard(session_id)
            if not running:
                del self._running[user]
