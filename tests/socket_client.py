"""A socket client for end-to-end tests: the `websockets` library against a real hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import API_KEY
from tests.hub_process import HubProcess

AUTH = {"X-Internal-Auth": API_KEY}


@asynccontextmanager
async def ide(hub: HubProcess, session_id: str, query: str = "") -> AsyncIterator[ClientConnection]:
    url = f"{hub.ws_url}/ws/{session_id}{query}"
    async with connect(url, additional_headers=AUTH) as ws:
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        data: dict[str, Any] = orjson.loads(await ws.recv())
    return data


async def receive_until(ws: ClientConnection, kind: str, **match: Any) -> list[dict[str, Any]]:
    """Frames up to and including the first of `kind` whose fields equal `match`."""
    frames = [await receive(ws)]
    while not (
        frames[-1]["type"] == kind and all(frames[-1].get(k) == v for k, v in match.items())
    ):
        frames.append(await receive(ws))
    return frames


async def send(ws: ClientConnection, **frame: Any) -> None:
    await ws.send(orjson.dumps(frame).decode())
