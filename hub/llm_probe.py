"""Whether the model's endpoint answers, for `/health`: a `GET /models` at most every few
seconds. Any HTTP answer counts as reachable (a 401 is a wrong key, not a dead server)."""

from __future__ import annotations

import time
from typing import Literal

import httpx

LlmState = Literal["demo", "reachable", "unreachable"]
FRESH_SECONDS = 10.0
PROBE_SECONDS = 2.0


class LlmProbe:
    def __init__(self, base_url: str, api_key: str, demo: bool) -> None:
        self._url = base_url.rstrip("/") + "/models"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._demo = demo
        self._known: tuple[float, LlmState] | None = None
        self._http = httpx.AsyncClient(timeout=PROBE_SECONDS)

    async def state(self) -> LlmState:
        if self._demo:
            return "demo"
        now = time.monotonic()
        if self._known is not None and now - self._known[0] < FRESH_SECONDS:
            return self._known[1]
        try:
            await self._http.get(self._url, headers=self._headers)
            state: LlmState = "reachable"
        except httpx.HTTPError:
            state = "unreachable"
        self._known = (now, state)
        return state

    async def aclose(self) -> None:
        await self._http.aclose()
