"""A database that stops taking writes at run time: /health says so, writes fail with a typed
error while the socket stays open, and the session works again once the database is back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from httpx_ws import aconnect_ws
from starlette.applications import Starlette

from hub.app import create_app
from hub.config import Settings
from tests.conftest import API_KEY, PG_ADMIN_URL, routed, ws_client
from tests.scripted_llm import ScriptedLLM, Text
from tests.test_socket import receive, receive_until

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_app(settings: Settings, postgres_url: str) -> AsyncIterator[Starlette]:
    app = create_app(settings.model_copy(update={"database_url": postgres_url}))
    async with app.router.lifespan_context(app):
        yield app


async def set_read_only(database_url: str, read_only: bool) -> None:
    """Like a failover to a standby and back: new transactions are read-only (or not), and
    every open connection is cut so the hub's pool reconnects."""
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        flag = "on" if read_only else "off"
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {flag}')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()


async def test_writes_fail_typed_while_read_only_and_the_session_recovers(
    pg_app: Starlette, postgres_url: str, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Text(["first"]), Text(["back again"]))
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(pg_app),
        base_url="http://hub",
        headers={"X-Internal-Auth": API_KEY},
    )
    async with http, ws_client(pg_app, **{"X-Internal-Auth": API_KEY}) as client:
        async with aconnect_ws("/ws/faulty", client) as ws:
            await receive(ws)
            await ws.send_text('{"type": "user_message", "content": "one"}')
            assert (await receive_until(ws, "run_finished"))[-1]["reason"] == "completed"

            await set_read_only(postgres_url, True)
            health = await http.get("/health")
            assert (health.status_code, health.json()["database"]) == (503, "unwritable")
            await ws.send_text('{"type": "user_message", "content": "two"}')
            failed = await receive_until(ws, "run_finished")
            assert failed[-1]["reason"] == "error"
            assert [f["code"] for f in failed if f["type"] == "error"] == ["database_error"]

            await set_read_only(postgres_url, False)
            # Each pooled connection that was cut fails once more, typed, then is replaced.
            for _ in range(10):
                if (await http.get("/health")).status_code == 200:
                    break
            assert (await http.get("/health")).status_code == 200
            for _ in range(5):  # as a client would: try again after a database_error
                await ws.send_text('{"type": "user_message", "content": "three"}')
                again = await receive_until(ws, "run_finished")
                if again[-1]["reason"] == "completed":
                    break
                assert [f["code"] for f in again if f["type"] == "error"] == ["database_error"]
            assert again[-1]["reason"] == "completed"
        history = (await http.get("/sessions/faulty/history")).json()["messages"]
    said = [(m["role"], m["content"]) for m in history if m["role"] in ("user", "assistant")]
    assert said[:2] == [("user", "one"), ("assistant", "first")]
    assert said[-2:] == [("user", "three"), ("assistant", "back again")]
    assert ("user", "two") not in said  # refused while read-only, not half-stored
