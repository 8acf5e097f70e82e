"""Shared fixtures: a scripted LLM server, real databases, the app in-process, a real hub."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from db.config import tortoise_config
from db.migrate import apply_migrations
from hub.app import create_app
from hub.config import Settings
from tests.scripted_llm import ScriptedLLM, ToolCalls

API_KEY = "test-internal-key"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def llm(llm_server: ScriptedLLM) -> Iterator[ScriptedLLM]:
    llm_server.reset()
    yield llm_server
    llm_server.release()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/hub.sqlite3"


async def _postgres_url() -> AsyncIterator[str]:
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"PostgreSQL is required in CI but unreachable: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc}); required only in CI")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await Tortoise.close_connections()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async for url in _postgres_url():
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[str]:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    async for url in _postgres_url():
        yield url


async def _orm(url: str) -> AsyncIterator[str]:
    await apply_migrations(url)
    await Tortoise.init(config=tortoise_config(url))
    yield url
    await Tortoise.close_connections()


@pytest.fixture(autouse=True)
def _forget_cached_sql() -> Iterator[None]:
    yield
    # Tortoise caches SQL per connection *name*; this one process meets two dialects.
    EXECUTOR_CACHE.clear()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[str]:
    """A migrated database (SQLite, then PostgreSQL) with the ORM initialised for the test."""
    async for url in _orm(database_url):
        yield url


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[str]:
    """A migrated SQLite database with the ORM initialised for the test."""
    async for url in _orm(sqlite_url):
        yield url


@pytest.fixture
def settings(llm: ScriptedLLM, sqlite_url: str) -> Settings:
    return Settings(
        llm_proxy_url=llm.base_url,
        llm_model="scripted-model",
        llm_api_key="sk-test",
        llm_max_retries=0,
        internal_api_key=API_KEY,
        database_url=sqlite_url,
        max_frame_bytes=4096,
        tool_timeout_seconds=5,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The hub in-process, its lifespan entered (migrations run, real SQLite)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def in_process_client(app: Starlette) -> httpx.AsyncClient:
    """An HTTP client of the hub in-process, with the internal key."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://hub",
        headers={"X-Internal-Auth": API_KEY},
    )


@pytest.fixture
async def app_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(app) as client:
        yield client


def ws_client(app: Starlette, **headers: str) -> httpx.AsyncClient:
    """A client that also speaks WebSocket in-process. Enter it inside the test body: its
    transport runs a task group that must be left in the task that entered it."""
    return httpx.AsyncClient(
        transport=ASGIWebSocketTransport(app), base_url="http://hub", headers=headers
    )


def routed(agent: str = "coder", reason: str = "the request is about code") -> ToolCalls:
    """The scripted answer to the orchestrator's routing call."""
    return ToolCalls(
        [("route-1", "route_to_agent", {"agent": agent, "confidence": 0.9, "reason": reason})]
    )
