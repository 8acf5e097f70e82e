"""Browsers at the socket: only allowed origins, and a ticket opens only its own session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.hub_process import HubProcess
from tests.scripted_llm import ScriptedLLM
from tests.socket_client import AUTH, receive

ALLOWED = "https://app.example"


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    process = HubProcess(
        tmp_path, llm.base_url, AGENT_RUNTIME__ALLOWED_ORIGINS=f'["{ALLOWED}"]'
    ).start()
    yield process
    process.stop()


async def ticket(hub: HubProcess, session_id: str) -> str:
    async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
        answer = await client.post("/auth/ws-ticket", json={"session_id": session_id})
    assert answer.json()["session_id"] == session_id
    value: str = answer.json()["ticket"]
    return value


async def test_a_foreign_origin_is_refused_with_403_even_with_the_key(hub: HubProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"{hub.ws_url}/ws/s1", additional_headers=AUTH, origin="https://evil.example"
        ):
            pass
    assert refused.value.response.status_code == 403
    body = orjson.loads(refused.value.response.body or b"{}")
    assert body["error"] == "forbidden" and "AGENT_RUNTIME__ALLOWED_ORIGINS" in body["detail"]


@pytest.mark.parametrize("origin", [None, ALLOWED, "own"])
async def test_ides_the_hubs_own_pages_and_allowed_origins_get_in(
    hub: HubProcess, origin: str | None
) -> None:
    if origin == "own":
        origin = hub.http_url
    async with connect(f"{hub.ws_url}/ws/s1", additional_headers=AUTH, origin=origin) as ws:  # type: ignore[arg-type]
        assert (await receive(ws))["type"] == "session_ready"


async def test_a_ticket_opens_only_the_session_it_was_issued_for(hub: HubProcess) -> None:
    for_a = await ticket(hub, "session-a")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{hub.ws_url}/ws/session-b?ticket={for_a}"):
            pass
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus):  # and it was used up by the try
        async with connect(f"{hub.ws_url}/ws/session-a?ticket={for_a}"):
            pass
    async with connect(f"{hub.ws_url}/ws/session-a?ticket={await ticket(hub, 'session-a')}") as ws:
        assert (await receive(ws))["type"] == "session_ready"


async def test_a_ticket_must_name_a_valid_session(hub: HubProcess) -> None:
    async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
        assert (await client.post("/auth/ws-ticket")).status_code == 400
        bad = await client.post("/auth/ws-ticket", json={"session_id": "a\nb"})
        assert bad.status_code == 422
