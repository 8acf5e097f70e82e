"""Tools from MCP servers, offered to the agents beside the built-in ones as
`mcp__<server>__<tool>`.

Each configured server is one `McpServer`: a task that connects (a subprocess over stdio, or
streamable HTTP), lists its tools, keeps the connection while it answers pings, and when it
fails or dies connects again after a backoff. A server that is down offers no tools, and a call
to one of its tools is answered with an error for the model: it never takes the hub down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
from jsonschema import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field, model_validator

log = logging.getLogger(__name__)

PREFIX = "mcp__"
SERVER_NAME = r"^[A-Za-z0-9-]{1,20}$"  # no `_`: it separates the parts of a tool's name
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what a model's function name may be
BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
PING_SECONDS = 15.0
START_SECONDS = 10.0  # how long the hub's start waits for the servers' first tool lists
RESULT_MAX_CHARS = 100_000


class McpServerSpec(BaseModel):
    """One entry of `AGENT_RUNTIME__MCP_SERVERS`: a command to run, or a URL to reach."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = Field(None, min_length=1, description="Run over stdio.")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = Field(None, description="Added to a minimal environment.")
    url: str | None = Field(None, pattern=r"^https?://", description="Streamable HTTP.")
    headers: dict[str, str] = Field(default_factory=dict)
    agents: list[str] | None = Field(None, description="The agents offered its tools; all: null.")
    trust_read_only_hints: bool = Field(
        True, description="Whether a tool the server annotates read-only runs without approval."
    )
    timeout_seconds: float = Field(60.0, gt=0, description="Per tool call.")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server needs either `command` or `url`, not both")
        return self


@dataclass(frozen=True, slots=True)
class McpTool:
    server: str
    tool: str  # its name on the server
    description: str
    schema: dict[str, Any]
    read_only: bool  # annotated so by the server: no approval by default
    name: str = field(init=False)  # as the model calls it
    function: dict[str, Any] = field(init=False)  # as the model is offered it, built once
    _validator: Validator | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        name = f"{PREFIX}{self.server}__{self.tool}"
        function = {"name": name, "description": self.description, "parameters": self.schema}
        set_field = object.__setattr__  # frozen: the derived fields are set once, here
        set_field(self, "name", name)
        set_field(self, "function", {"type": "function", "function": function})
        try:
            validator_for(self.schema).check_schema(self.schema)
            set_field(self, "_validator", validator_for(self.schema)(self.schema))
        except SchemaError:
            set_field(self, "_validator", None)  # the server checks what it can read

    def invalid(self, arguments: dict[str, Any]) -> str | None:
        """Why these arguments do not fit the tool's schema, for the model; None if they do."""
        if self._validator is None:
            return None
        try:
            found = list(self._validator.iter_errors(arguments))
        except Exception as exc:  # a schema it cannot read through ($ref to nowhere, say)
            log.warning("MCP tool %s: arguments not checked: %s", self.name, exc)
            return None  # its server checks what it can
        problems = sorted(found, key=lambda e: list(e.path))
        if not problems:
            return None
        said = "; ".join(
            f"{'.'.join(map(str, e.path)) or 'arguments'}: {e.message}" for e in problems[:5]
        )
        return f"invalid arguments for {self.name}: {said}"


class McpCallFailed(Exception):
    """The call did not give a result; the message is meant for the model."""


ServerState = Literal["starting", "up", "down"]


class McpServer:
    def __init__(self, name: str, spec: McpServerSpec) -> None:
        self.name = name
        self.spec = spec
        self.state: ServerState = "starting"
        self.error: str | None = None
        self.restarts = 0
        self.tools: dict[str, McpTool] = {}  # by qualified name
        self.listed = asyncio.Event()  # set once the first attempt has ended either way
        self._client: Client | None = None
        self._broken = asyncio.Event()

    async def run(self) -> None:
        """Connect, serve, and connect again after every failure, until cancelled."""
        failures = 0
        while True:
            try:
                async with self._connect() as client:
                    await self._list(client)
                    failures = 0
                    await self._keep(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the server or its transport
                self.error = f"{type(exc).__name__}: {exc}"
            self._down()
            delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
            failures += 1
            log.warning("MCP server %s is down (%s); retrying in %gs", self.name, self.error, delay)
            await asyncio.sleep(delay)
            self.restarts += 1

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[Client]:
        spec, timeout = self.spec, self.spec.timeout_seconds
        if spec.command is not None:
            params = StdioServerParameters(command=spec.command, args=spec.args, env=spec.env)
            async with Client(params, read_timeout_seconds=timeout, mode="legacy") as client:
                yield client
            return
        assert spec.url is not None
        async with httpx2.AsyncClient(headers=spec.headers, timeout=timeout) as http:
            transport = streamable_http_client(spec.url, http_client=http)
            async with Client(transport, read_timeout_seconds=timeout, mode="legacy") as client:
                yield client

    async def _list(self, client: Client) -> None:
        listed = await client.list_tools()
        tools = {}
        for tool in listed.tools:
            mounted = McpTool(
                self.name,
                tool.name,
                (tool.description or tool.title or tool.name).strip(),
                dict(tool.input_schema or {"type": "object"}),
                bool(tool.annotations and tool.annotations.read_only_hint),
            )
            if not _FUNCTION_NAME.match(mounted.name):
                log.warning("MCP server %s: tool %r left out: its name", self.name, tool.name)
                continue
            tools[mounted.name] = mounted
        self.tools, self._client = tools, client
        self.state, self.error = "up", None
        self._broken.clear()
        self.listed.set()
        log.info("MCP server %s is up with %d tools", self.name, len(tools))

    async def _keep(self, client: Client) -> None:
        """Return when the connection is broken: a failed call said so, or a ping failed."""
        while not self._broken.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PING_SECONDS):
                    await self._broken.wait()
                    break
            await client.send_ping()
        self.error = self.error or "the connection broke"

    def _down(self) -> None:
        self.state, self.tools, self._client = "down", {}, None
        self.listed.set()

    async def call(self, tool: McpTool, arguments: dict[str, Any]) -> str:
        client = self._client
        if client is None or self.state != "up":
            raise McpCallFailed(f"the MCP server {self.name} is not running ({self.error})")
        try:
            result = await client.call_tool(tool.tool, arguments)
        except MCPError as exc:
            if "closed" in str(exc).lower():
                self.error = f"the connection closed during a call to {tool.tool}"
                self._down()  # at once: no later turn is offered the tools of a dead server
                self._broken.set()
            raise McpCallFailed(f"the MCP server {self.name} failed: {exc}") from None
        except TimeoutError:
            raise McpCallFailed(
                f"the MCP server {self.name} did not answer within {self.spec.timeout_seconds:g}s"
            ) from None
        text = _text_of(result)
        if result.is_error:
            raise McpCallFailed(text or f"{tool.tool} failed without saying why")
        return text


def _text_of(result: CallToolResult) -> str:
    parts = [
        c.text if isinstance(c, TextContent) else f"[{c.type} content]" for c in result.content
    ]
    text = "\n".join(parts)
    if len(text) > RESULT_MAX_CHARS:
        text = text[:RESULT_MAX_CHARS] + f"\n[cut: {len(text) - RESULT_MAX_CHARS} more characters]"
    return text


class McpServers:
    """The configured servers, their tools by qualified name, and their health."""

    def __init__(self, specs: Mapping[str, McpServerSpec]) -> None:
        self._servers = {name: McpServer(name, spec) for name, spec in specs.items()}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every server, waiting a little for their first tool lists so the first turns
        see them; a server slower than that offers its tools once it is up."""
        self._tasks = [asyncio.create_task(s.run()) for s in self._servers.values()]
        waits = [asyncio.create_task(s.listed.wait()) for s in self._servers.values()]
        if waits:
            await asyncio.wait(waits, timeout=START_SECONDS)
        for wait in waits:
            wait.cancel()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def find(self, name: str) -> McpTool | None:
        if not name.startswith(PREFIX):
            return None
        server = self._servers.get(name[len(PREFIX) :].split("__", 1)[0])
        return server.tools.get(name) if server is not None else None

    def missing(self, name: str) -> str | None:
        """Why a call of a mounted tool's name finds no tool, for the model; None if the name
        is not one of a configured server's."""
        server = self._servers.get(name[len(PREFIX) :].split("__", 1)[0])
        if not name.startswith(PREFIX) or server is None:
            return None
        if server.state != "up":
            return f"the MCP server {server.name} is not running ({server.error or 'starting'})"
        offered = ", ".join(t.name for t in server.tools.values())
        return f"the MCP server {server.name} has no tool {name!r}; its tools are: {offered}"

    def offered_to(self, agent: str) -> list[McpTool]:
        return [
            tool
            for server in self._servers.values()
            for tool in server.tools.values()
            if self.offers(tool, agent)
        ]

    def offers(self, tool: McpTool, agent: str) -> bool:
        agents = self._servers[tool.server].spec.agents
        return agents is None or agent in agents

    def asks_by_default(self, tool: McpTool) -> bool:
        """Whether a call needs approval when `approval_policy` does not name the tool."""
        return not (tool.read_only and self._servers[tool.server].spec.trust_read_only_hints)

    async def call(self, tool: McpTool, arguments: dict[str, Any]) -> str:
        return await self._servers[tool.server].call(tool, arguments)

    def health(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "state": s.state,
                "tools": sorted(t.tool for t in s.tools.values()),
                "restarts": s.restarts,
                "error": s.error,
            }
            for name, s in self._servers.items()
        }
