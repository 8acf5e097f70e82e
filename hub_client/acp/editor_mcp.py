"""The MCP servers an editor passes to `session/new`, run by the bridge on the editor's machine.

They are the editor's: a hub elsewhere could neither start the editor's commands nor reach its
local URLs. The bridge connects to them (`tools.mcp`), offers their tools to the hub as the
client's own tools (`user_message.tools`), and runs the calls the hub sends back, asking the
editor's permission first unless the server annotates the tool read-only.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from acp.interfaces import Client
from acp.schema import AllowedOutcome, HttpMcpServer, McpServerStdio, SseMcpServer, ToolCallUpdate

from hub import protocol as p
from hub_client.acp.editor_tools import PERMISSIONS
from tools.mcp import McpCallFailed, McpServers, McpServerSpec, McpTool

log = logging.getLogger(__name__)

MAX_OFFERED = 32  # what one user_message may offer
EDITOR = "ide_"  # the editor's tools are not the hub's (`mcp__…`), even from a same-named server
NAME_MAX = 64


def specs_of(servers: list[Any] | None) -> dict[str, McpServerSpec]:
    """The editor's servers as the hub's specs, named so that their tools' names are valid;
    SSE servers (deprecated by MCP) are left out with a warning."""
    specs: dict[str, McpServerSpec] = {}
    for server in servers or ():
        name = _name(server.name, specs)
        match server:
            case McpServerStdio(command=command, args=args, env=env):
                variables = {v.name: v.value for v in env}
                specs[name] = McpServerSpec(command=command, args=args, env=variables)
            case HttpMcpServer(url=url, headers=headers):
                specs[name] = McpServerSpec(url=url, headers={h.name: h.value for h in headers})
            case SseMcpServer(name=given):
                log.warning("MCP server %r left out: SSE servers are not supported", given)
    return specs


def _name(given: str, taken: dict[str, McpServerSpec]) -> str:
    base = re.sub(r"[^A-Za-z0-9-]+", "-", given).strip("-")[:16] or "server"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


class EditorMcp:
    """One ACP session's MCP servers."""

    def __init__(self, specs: dict[str, McpServerSpec]) -> None:
        self._servers = McpServers(specs)
        # Tools the editor allowed or refused for the rest of the session.
        self._always: set[str] = set()
        self._never: set[str] = set()

    async def start(self) -> None:
        await self._servers.start()

    async def aclose(self) -> None:
        await self._servers.aclose()

    def offered(self) -> list[p.ClientTool]:
        tools = self._servers.offered_to("")  # the editor's servers serve every agent
        if len(tools) > MAX_OFFERED:
            log.warning("the editor's MCP servers have %d tools; the first %d are offered",
                        len(tools), MAX_OFFERED)  # fmt: skip
        return [
            p.ClientTool(name=EDITOR + t.name, description=t.description, parameters=t.schema)
            for t in tools[:MAX_OFFERED]
            if len(EDITOR + t.name) <= NAME_MAX
        ]

    def find(self, name: str) -> McpTool | None:
        """The editor's tool a call names (`ide_mcp__…`), apart from the hub's own `mcp__…`."""
        return self._servers.find(name.removeprefix(EDITOR)) if name.startswith(EDITOR) else None

    async def run(self, editor: Client, session_id: str, call: p.ToolCall, tool: McpTool) -> str:
        """Ask the editor unless the tool is read-only or was allowed or refused for good, then
        call it; McpCallFailed says why not, for the model."""
        if (invalid := tool.invalid(call.arguments)) is not None:
            raise McpCallFailed(invalid)
        if tool.name in self._never:
            raise McpCallFailed("the user refused this tool for the rest of the session")
        if tool.name not in self._always and self._servers.asks_by_default(tool):
            await self._ask(editor, session_id, call, tool)
        return await self._servers.call(tool, call.arguments)

    async def _ask(self, editor: Client, session_id: str, call: p.ToolCall, tool: McpTool) -> None:
        request = ToolCallUpdate(
            tool_call_id=call.call_id,
            title=f"{tool.server}: {tool.tool}",
            kind="other",
            status="pending",
            raw_input=call.arguments,
        )
        answer = await editor.request_permission(
            session_id=session_id, tool_call=request, options=PERMISSIONS
        )
        chosen = answer.outcome.option_id if isinstance(answer.outcome, AllowedOutcome) else None
        if chosen == "allow_always":
            self._always.add(tool.name)
        elif chosen == "reject_always":
            self._never.add(tool.name)
        if chosen not in ("allow_once", "allow_always"):
            raise McpCallFailed("the user rejected this call in the editor")
