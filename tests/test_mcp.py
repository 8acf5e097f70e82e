"""MCP servers' tools mounted in the hub, against real servers built with the `mcp` SDK
(`tests/mcp_server.py`), over stdio and over streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from hub.config import SettingsError, load_settings
from tests.conftest import routed
from tests.hub_process import HubProcess, free_port
from tests.scripted_llm import ScriptedLLM, Text, ToolCalls
from tests.socket_client import ide, receive, receive_until, send
from tools.mcp import McpCallFailed, McpServers, McpServerSpec, McpTool

ROOT = Path(__file__).resolve().parent.parent


def stdio_spec(notes: Path, **extra: object) -> McpServerSpec:
    return McpServerSpec.model_validate(
        {
            "command": sys.executable,
            "args": ["-m", "tests.mcp_server", "stdio"],
            "env": {"MCP_NOTES": str(notes), "PYTHONPATH": str(ROOT)},
            **extra,
        }
    )


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """The same tools served over streamable HTTP by a process of their own."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.mcp_server", "http", "--port", str(port)],
        cwd=ROOT,
        env={"MCP_NOTES": str(tmp_path / "http-notes.txt"), "PATH": "/usr/bin:/bin"},
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def servers(tmp_path: Path, http_server: str) -> AsyncIterator[McpServers]:
    mounted = McpServers(
        {
            "local": stdio_spec(tmp_path / "notes.txt"),
            "remote": McpServerSpec(url=http_server, agents=["coder"]),
            "broken": McpServerSpec(command="/nonexistent/mcp-server"),
        }
    )
    await mounted.start()
    yield mounted
    await mounted.aclose()


async def test_tools_are_mounted_with_their_schemas_and_hints(servers: McpServers) -> None:
    lookup = servers.find("mcp__local__lookup")
    assert lookup is not None and lookup.read_only
    assert lookup.function["function"]["parameters"]["required"] == ["word"]
    note = servers.find("mcp__local__write_note")
    assert note is not None and not note.read_only
    assert servers.find("mcp__local__nothing") is None
    assert servers.find("read_file") is None
    # The HTTP server's tools go to the coder alone, as configured.
    assert "mcp__remote__lookup" in {t.name for t in servers.offered_to("coder")}
    assert "mcp__remote__lookup" not in {t.name for t in servers.offered_to("ask")}
    assert "mcp__local__lookup" in {t.name for t in servers.offered_to("ask")}


async def test_calls_over_both_transports(servers: McpServers, tmp_path: Path) -> None:
    for name in ("mcp__local__lookup", "mcp__remote__lookup"):
        tool = servers.find(name)
        assert tool is not None
        assert (await servers.call(tool, {"word": "hub"})).startswith("hub: a word")
    note = servers.find("mcp__local__write_note")
    assert note is not None
    assert await servers.call(note, {"text": "hello"}) == "noted 5 characters"
    assert (tmp_path / "notes.txt").read_text() == "hello\n"


async def test_errors_are_told_to_the_model(servers: McpServers) -> None:
    fail = servers.find("mcp__local__fail")
    lookup = servers.find("mcp__local__lookup")
    assert fail is not None and lookup is not None
    with pytest.raises(McpCallFailed, match="failing as asked: why"):
        await servers.call(fail, {"reason": "why"})
    with pytest.raises(McpCallFailed, match="word"):
        await servers.call(lookup, {})


async def test_a_server_that_cannot_start_is_reported_not_fatal(servers: McpServers) -> None:
    health = servers.health()
    assert health["broken"]["state"] == "down"
    assert "nonexistent" in (health["broken"]["error"] or "")
    assert health["local"] == {
        "state": "up",
        "tools": ["crash", "fail", "lookup", "write_note"],
        "restarts": 0,
        "error": None,
    }


async def test_a_server_that_dies_is_restarted(servers: McpServers) -> None:
    crash, lookup = servers.find("mcp__local__crash"), servers.find("mcp__local__lookup")
    assert crash is not None and lookup is not None
    before = await servers.call(lookup, {"word": "a"})
    with pytest.raises(McpCallFailed, match="local"):
        await servers.call(crash, {})
    async with asyncio.timeout(20):
        while servers.find(lookup.name) is None:  # noqa: ASYNC110 - polled as /health is
            await asyncio.sleep(0.1)
    assert servers.health()["local"]["restarts"] >= 1
    fresh = servers.find(lookup.name)
    assert fresh is not None
    after = await servers.call(fresh, {"word": "a"})
    assert after.startswith("a: a word") and after != before  # another process's pid


async def test_a_hub_configured_with_servers_offers_their_tools_end_to_end(
    tmp_path: Path, llm: ScriptedLLM, http_server: str
) -> None:
    configured = {"remote": {"url": http_server}, "broken": {"command": "/nonexistent/server"}}
    hub = HubProcess(
        tmp_path, llm.base_url, AGENT_RUNTIME__MCP_SERVERS=json.dumps(configured)
    ).start()
    try:
        lookup = ToolCalls([("h-1", "mcp__remote__lookup", {"word": "ide"})])
        llm.push(routed(), lookup, Text(["It is a word."]))
        async with ide(hub, "mcp-e2e") as ws:
            assert (await receive(ws))["type"] == "session_ready"
            await send(ws, type="user_message", content="what is an ide?", role="user")
            frames = await receive_until(ws, "run_finished")
        async with httpx.AsyncClient(base_url=hub.http_url) as client:
            health = (await client.get("/health")).json()
    finally:
        hub.stop()
    finished = next(f for f in frames if f["type"] == "tool_finished")
    assert (finished["status"], frames[-1]["reason"]) == ("done", "completed")
    assert finished["content"].startswith("ide: a word of the test glossary")
    assert "mcp__remote__lookup" in {t["function"]["name"] for t in llm.requests[1]["tools"]}
    assert health["status"] == "ok"  # a server that is down costs its tools only
    assert health["mcp"]["remote"]["state"] == "up"
    assert health["mcp"]["broken"]["state"] == "down"


@pytest.mark.parametrize(
    ("servers", "said"),
    [
        ({"my_server": {"command": "x"}}, "String should match pattern"),
        ({"s": {"command": "x", "url": "http://h/mcp"}}, "either `command` or `url`"),
        ({"s": {"url": "ftp://h"}}, "String should match pattern"),
        ({"s": {"command": "x", "agents": ["nobody"]}}, "unknown agents nobody"),
    ],
)
def test_a_bad_server_entry_stops_the_hub_with_a_message(
    servers: dict[str, object], said: str
) -> None:
    with pytest.raises(SettingsError, match="AGENT_RUNTIME__MCP_SERVERS") as refused:
        load_settings(mcp_servers=servers)
    assert said in str(refused.value)


def test_a_schema_that_cannot_be_read_through_leaves_the_check_to_the_server() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}}
    tool = McpTool("srv", "odd", "an odd schema", schema, read_only=False)
    assert tool.invalid({"a": 1}) is None  # no crash of the turn; the server decides
    strict = McpTool("srv", "t", "d", {"type": "object", "required": ["a"]}, read_only=False)
    assert (
        strict.invalid({})
        == "invalid arguments for mcp__srv__t: arguments: 'a' is a required property"
    )
