"""The hub's plans in the editor: a proposal is a permission prompt, progress is ACP's plan."""

from __future__ import annotations

from typing import Any, Literal

import acp
from acp.interfaces import Client
from acp.schema import AgentPlanUpdate, AllowedOutcome, PermissionOption, ToolCallUpdate

from hub import protocol as p
from hub_client.connection import HubClient

EntryStatus = Literal["pending", "in_progress", "completed"]
# ACP's plan entries know three states; a skipped, cancelled or failed step is over too.
_ENTRY: dict[str, EntryStatus] = {"pending": "pending", "running": "in_progress"}
CHOICES = [
    PermissionOption(option_id="approve", name="Run the plan", kind="allow_once"),
    PermissionOption(option_id="reject", name="Reject the plan", kind="reject_once"),
]


def plan_update(steps: list[Any]) -> AgentPlanUpdate:
    """The plan's steps as ACP plan entries (`steps`: the frames' step models or dicts)."""
    entries = []
    for step in steps:
        fields = step if isinstance(step, dict) else step.model_dump()
        status = _ENTRY.get(fields.get("status", "pending"), "completed")
        entries.append(acp.plan_entry(f"{fields['title']} ({fields['agent']})", status=status))
    return acp.update_plan(entries)


async def ask(
    editor: Client, hub: HubClient, session_id: str, frame: p.PlanApprovalRequired
) -> None:
    """Put the plan to the editor's user and send the hub the answer."""
    request = ToolCallUpdate(
        tool_call_id=frame.plan_id,
        title=f"Plan: {frame.plan_summary.get('title', '')}",
        kind="think",
        status="pending",
        raw_input=frame.plan_summary,
    )
    answer = await editor.request_permission(
        session_id=session_id, tool_call=request, options=CHOICES
    )
    approved = isinstance(answer.outcome, AllowedOutcome) and answer.outcome.option_id == "approve"
    decision = p.PlanDecision(
        approval_request_id=frame.approval_request_id,
        decision="approve" if approved else "reject",
        feedback=None if approved else "rejected in the editor",
    )
    await hub.send(decision)
