"""Which agent may call which tool on which file: enforced here, whatever the model asks."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Protocol

from tools.args import ToolArgs, WriteFileArgs

WRITING_TOOLS = frozenset({"write_file", "create_directory"})


class WritePolicy(StrEnum):
    ANY = "any"
    MARKDOWN_ONLY = "markdown_only"
    READ_ONLY = "read_only"


class ToolUser(Protocol):
    """What the tool layer needs to know of an agent."""

    @property
    def name(self) -> str: ...

    @property
    def tools(self) -> Collection[str]: ...

    @property
    def write_policy(self) -> WritePolicy: ...


def refusal(agent: ToolUser, tool_name: str, args: ToolArgs) -> str | None:
    """Why `agent` may not make this call, told to the model so it can recover; None if it may."""
    if tool_name not in agent.tools:
        allowed = ", ".join(agent.tools)
        return f"the {agent.name} agent may not use {tool_name}; its tools are: {allowed}"
    if tool_name not in WRITING_TOOLS:
        return None
    if agent.write_policy is WritePolicy.READ_ONLY:
        return f"the {agent.name} agent is read-only and may not call {tool_name}"
    if agent.write_policy is WritePolicy.MARKDOWN_ONLY:
        if not isinstance(args, WriteFileArgs) or not args.path.lower().endswith(".md"):
            target = getattr(args, "path", "?")
            return (
                f"the {agent.name} agent may write only Markdown (*.md) files; "
                f"{tool_name} on {target!r} refused"
            )
    return None
