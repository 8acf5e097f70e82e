"""Calls of tools mounted from MCP servers (`tools.mcp`). The hub runs them itself — never the
IDE, even after an IDE approved one in-band — after an approval unless the server annotates
the tool read-only; the session's deny and allow rules apply as to the built-in tools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.run import approvals
from agents.run.outcome import finish
from agents.run.steps import FinalOutput, Interruption, OpenCall, RunContext
from tools.approval import ToolPolicy
from tools.mcp import McpCallFailed, McpServers, McpTool


class MountedCalls:
    def __init__(self, servers: McpServers, policies: Mapping[str, ToolPolicy]) -> None:
        self._servers = servers
        self._policies = policies  # `approval_policy`: a mounted tool named there follows it

    def functions(self, agent: str) -> list[dict[str, Any]]:
        """The mounted tools offered to `agent`, as the model is offered them."""
        return [tool.function for tool in self._servers.offered_to(agent)]

    def find(self, call: OpenCall) -> McpTool | None:
        tool = self._servers.find(call.tool_name)
        return tool if tool is not None and self._servers.offers(tool, call.agent) else None

    def missing(self, call: OpenCall) -> str | None:
        """Why this call of a mounted tool's name finds no tool; None if the name is not one."""
        tool = self._servers.find(call.tool_name)
        if tool is not None and not self._servers.offers(tool, call.agent):
            return f"the {call.agent} agent may not use {tool.name}"
        return self._servers.missing(call.tool_name)

    async def first_sight(
        self, ctx: RunContext, call: OpenCall, tool: McpTool
    ) -> Interruption | FinalOutput | None:
        if (why := tool.invalid(call.arguments)) is not None:
            await finish(ctx, call, "failed", f"error: {why}")
            return None
        store, session_id = ctx.store, ctx.session_id
        if (
            rule := await approvals.denied(store, session_id, tool.name, call.arguments)
        ) is not None:
            why = f"a deny rule of this session matches ({tool.name} {rule.pattern!r})"
            await finish(ctx, call, "refused", f"error: refused: {why}")
            return None
        await store.create_tool_call(
            call.call_id, session_id, call.agent, tool.name, call.arguments
        )
        policy = self._policy(tool)
        if policy and await approvals.needed(store, policy, session_id, tool.name, call.arguments):
            events = await approvals.ask(store, session_id, call, call.arguments, policy, None)
            for event in events:
                ctx.sink.emit(event)
            return Interruption((call.call_id,))
        await self.run(ctx, call, call.arguments)
        return None

    async def run(self, ctx: RunContext, call: OpenCall, arguments: dict[str, Any]) -> None:
        """Run an allowed call on its server; how it went is the model's to read."""
        tool = self._servers.find(call.tool_name)
        if tool is None:
            gone = self.missing(call) or f"no MCP server offers {call.tool_name!r}"
            await finish(ctx, call, "failed", f"error: {gone}")
            return
        if (invalid := tool.invalid(arguments)) is not None:  # an edit may have made them so
            await finish(ctx, call, "failed", f"error: {invalid}")
            return
        try:
            text = await self._servers.call(tool, arguments)
        except McpCallFailed as exc:
            await finish(ctx, call, "failed", f"error: {exc}")
            return
        await finish(ctx, call, "done", text)

    def _policy(self, tool: McpTool) -> ToolPolicy | None:
        if tool.name in self._policies:
            return self._policies[tool.name]
        return ToolPolicy() if self._servers.asks_by_default(tool) else None
