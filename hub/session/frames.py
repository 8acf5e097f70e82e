"""What clients see of a run: each `RunEvent` as the hub frame it is published as."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from agents.run import steps as s
from agents.run.plans import summary
from agents.run.steps import Wait
from agents.usage import Usage
from db.records import MessageStatus, StoredMessage, StoredUsage
from hub import protocol as p
from hub.history import history_message

FrameFields = tuple[type[p.HubFrameModel], dict[str, Any]]


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def frame_of(event: s.RunEvent) -> FrameFields | None:
    """The frame an event is published as; None for events that only change the session."""
    match event:
        case s.MessageEnded():
            return p.AssistantMessage, {"token": "", "is_final": True}
        case s.RunFailed(code=code, message=message):
            return p.Error, {"code": code, "content": message}
        case s.AgentSwitched() as switch:
            confidence = None if switch.confidence is None else f"{switch.confidence:.2f}"
            return p.AgentSwitched, {
                "content": switch.note,
                "from_agent": switch.from_agent,
                "to_agent": switch.to_agent,
                "reason": switch.reason,
                "confidence": confidence,
                "method": switch.method,
            }
        case s.ToolAnnounced() as call:
            return p.ToolCall, {
                "call_id": call.call_id,
                "tool_name": call.tool_name,
                "arguments": call.arguments,
                "requires_approval": call.requires_approval,
                "agent": call.agent,
                "expires_at": iso(call.expires_at),
                "diff": call.diff,
            }
        case s.ToolFinished(call_id=call_id, tool_name=tool_name, status=status, content=content):
            fields = {"call_id": call_id, "tool_name": tool_name, "status": status}
            return p.ToolFinished, fields | {"content": content}
        case s.QuestionAsked(call_id=call_id, question=question, options=options):
            return p.FollowupQuestion, {
                "call_id": call_id,
                "question": question,
                "options": options,
            }
        case s.ApprovalResolved() as resolved:
            return p.ApprovalResolved, {
                "call_id": resolved.call_id,
                "decision": resolved.decision,
                "decided_by": resolved.decided_by,
                "arguments": resolved.arguments,
                "feedback": resolved.feedback,
            }
        case s.ApprovalExpiring(call_id=call_id, expires_at=expires_at):
            return p.ApprovalExpiring, {"call_id": call_id, "expires_at": iso(expires_at)}
        case s.UsageReported() as report:
            return p.UsageReport, usage_fields(report)
        case s.PlanProposed(plan=plan):
            steps = [{"title": t.title, "agent": t.agent, "description": t.description}
                     for t in plan.steps]  # fmt: skip
            return plan_approval(plan.id, plan.agent, plan.title, steps)
        case s.PlanUpdated(plan=plan):
            return p.PlanUpdated, {
                "plan_id": plan.id,
                "title": plan.title,
                "status": plan.status,
                "steps": [p.PlanStep(**dataclasses.asdict(t)) for t in plan.steps],
                "feedback": plan.feedback,
            }
        case s.Awaiting() | s.MessageStored() | s.ToolStarted():
            return None


def token_counts(usage: Usage | None, cost: float | None) -> dict[str, Any]:
    if usage is None:
        return dict.fromkeys(
            ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens")
        )
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.cached_tokens,
        "cost_usd": cost,
    }


def session_usage(totals: StoredUsage, cost: float | None) -> p.SessionUsage:
    counts = token_counts(Usage.of_session(totals), cost)
    return p.SessionUsage(
        **counts, model_calls=totals.model_calls, unreported_calls=totals.unreported_calls
    )


def usage_fields(report: s.UsageReported) -> dict[str, Any]:
    return token_counts(report.usage, report.cost_usd) | {
        "scope": report.scope,
        "agent": report.agent,
        "model_calls": report.model_calls,
        "unreported_calls": report.unreported_calls,
        "session": session_usage(report.session, report.session_cost_usd),
        "context_tokens": report.context_tokens,
    }


def plan_approval(plan_id: str, agent: str, title: str, steps: list[dict[str, str]]) -> FrameFields:
    return p.PlanApprovalRequired, {
        "content": summary(title, steps),
        "approval_request_id": plan_id,
        "plan_id": plan_id,
        "plan_summary": {"title": title, "steps": steps},
        "agent": agent,
    }


def reminder(wait: Wait) -> FrameFields:
    """What a client that attaches later is sent again, so it can act on the wait."""
    if wait.kind == "plan":  # the proposing call's arguments are the plan as proposed
        arguments = wait.arguments
        return plan_approval(wait.call_id, wait.agent, arguments["title"], arguments["steps"])
    if wait.kind == "answer":
        question = s.QuestionAsked(
            wait.call_id, wait.arguments.get("question", ""), wait.arguments.get("options")
        )
        found = frame_of(question)
    else:
        approval = wait.kind == "approval"
        deadline = wait.deadline if approval else None
        announced = s.ToolAnnounced(
            wait.call_id, wait.tool_name, wait.arguments, wait.agent, approval, deadline
        )
        found = frame_of(announced)
    assert found is not None
    return found


def pending_approval(wait: Wait) -> p.PendingApproval:
    return p.PendingApproval(
        call_id=wait.call_id,
        tool_name=wait.tool_name,
        arguments=wait.arguments,
        agent=wait.agent,
        created_at=wait.since.isoformat(),
        expires_at=iso(wait.deadline),
    )


def resync_view(
    recent: list[StoredMessage], streaming: str, agent: str, seq: int
) -> tuple[list[p.HistoryMessage], p.InFlightMessage | None]:
    """What a resync shows: the stored messages and the message being streamed (its text as
    far as `seq`), which stands for its draft in the store. Nothing is in flight when the
    message was stored while the history was read (it is there, whole)."""
    stored = [
        history_message(m)
        for m in recent
        if not (streaming and m.status is MessageStatus.STREAMING)
    ]
    last = stored[-1] if stored else None
    if not streaming or (last and last.role == "assistant" and last.content == streaming):
        return stored, None
    return stored, p.InFlightMessage(content=streaming, agent=agent, seq=seq)
