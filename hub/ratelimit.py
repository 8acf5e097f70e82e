"""A token bucket: how many client frames a session takes per second, with short bursts."""

from __future__ import annotations

import time


class RateLimit:
    def __init__(self, per_second: float, burst: float | None = None) -> None:
        self.per_second = per_second
        self._capacity = burst if burst is not None else per_second * 2
        self._tokens = self._capacity
        self._stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self.per_second)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
