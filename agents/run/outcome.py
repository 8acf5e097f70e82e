"""How a tool call ends: its record finished, its result told to the model and the clients."""

from __future__ import annotations

from agents.run.steps import OpenCall, RunContext, ToolFinished
from agents.vocab import ToolOutcomeStatus
from db.records import ToolCallStatus

TOOL_NAME_MAX = 64  # what a tool call record's name holds


async def finish(ctx: RunContext, call: OpenCall, status: ToolOutcomeStatus, content: str) -> None:
    store = ctx.store
    if await store.get_tool_call(call.call_id) is None:
        # A name the model made up may be longer than a record holds; the model is told
        # the whole name in `content`.
        name = call.tool_name[:TOOL_NAME_MAX]
        await store.create_tool_call(call.call_id, ctx.session_id, call.agent, name, call.arguments)
    error = content if status != "done" else None
    await store.finish_tool_call(call.call_id, ToolCallStatus(status), content, error)
    await tell(ctx, call, status, content)


async def tell(ctx: RunContext, call: OpenCall, status: ToolOutcomeStatus, content: str) -> None:
    """The model reads the result next; the clients see how the call ended."""
    await ctx.conversation.add("tool", content, agent=call.agent, tool_call_id=call.call_id)
    ctx.sink.emit(ToolFinished(call.call_id, call.tool_name, status, content))
