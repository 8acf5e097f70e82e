"""The approval lifecycle, in one place: ask → decide → resume, or expire.

A call that needs a human interrupts the turn: `ask` stores the approval and announces it.
`decide` records the first decision (later ones are audited and refused). When the turn goes
on, `resume` says what the decision means for the call; `expire` and `cancel` decide for the
hub when nobody did in time or the turn was stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from agents.definitions import AGENTS
from agents.ports import HistoryStore
from agents.run.steps import (
    ApprovalResolved,
    Awaiting,
    CallState,
    OpenCall,
    Ready,
    RunEvent,
    Settled,
    ToolAnnounced,
    Wait,
    Waiting,
)
from agents.vocab import DeciderRole, ErrorCode, Refusal, Verdict
from db.records import ApprovalStatus, StoredApproval, StoredRule
from tools.approval import Arguments, ToolPolicy, rule_allows, rule_denies, subject
from tools.permissions import refusal
from tools.registry import TOOLS, InvalidArguments, parse_arguments


@dataclass(frozen=True, slots=True)
class Decider:
    """Who decided: `name` goes to the audit trail, `role` says what the decision implies."""

    role: DeciderRole
    name: str

    @classmethod
    def of(cls, approval: StoredApproval) -> Decider:
        """Who decided a stored approval. Rows decided before roles were stored name the
        role only as the prefix of `decided_by` (`ide:3f2a…`)."""
        name = approval.decided_by or ""
        role = approval.decider_role or name.split(":", 1)[0]
        known = role in ("ide", "console", "sse", "rest", "timeout", "cancel")
        return cls(cast(DeciderRole, role) if known else "rest", name)

    @property
    def runs_the_call(self) -> bool:
        """An IDE that approves in-band runs the call itself (the original protocol's order);
        after anyone else's approval the hub sends the call to the IDE."""
        return self.role == "ide"


TIMEOUT = Decider("timeout", "timeout")
CANCEL = Decider("cancel", "cancel")


@dataclass(frozen=True, slots=True)
class Decision:
    call_id: str
    verdict: Verdict
    modified_arguments: dict[str, Any] | None = None
    feedback: str | None = None
    always_allow: bool = False
    allow_pattern: str | None = None  # the pattern of the rule always_allow / always_deny adds
    always_deny: bool = False


_STATUS = {
    "approve": ApprovalStatus.APPROVED,
    "edit": ApprovalStatus.EDITED,
    "reject": ApprovalStatus.REJECTED,
}
_SAID_NO = {ApprovalStatus.REJECTED: "rejected", ApprovalStatus.CANCELLED: "cancelled"}


async def needed(
    store: HistoryStore, policy: ToolPolicy | None, session_id: str, tool: str, args: Arguments
) -> bool:
    """The tool's policy asks, and no "always allow" rule of the session covers this call."""
    if policy is None or not policy.ask:
        return False
    rules = await store.allow_rules(session_id, tool)
    return not any(r.effect == "allow" and rule_allows(r.pattern, args) for r in rules)


async def denied(
    store: HistoryStore, session_id: str, tool: str, args: Arguments
) -> StoredRule | None:
    """The session's deny rule that covers this call, if any: a deny wins over any allow."""
    for rule in await store.allow_rules(session_id, tool):
        if rule.effect == "deny" and rule_denies(rule.pattern, args):
            return rule
    return None


async def ask(
    store: HistoryStore,
    session_id: str,
    call: OpenCall,
    arguments: dict[str, Any],
    policy: ToolPolicy,
    diff: str | None,
) -> list[RunEvent]:
    """Store the approval; the events announce it and park the turn on it."""
    expires_at = None
    if policy.timeout_seconds is not None:
        expires_at = datetime.now(UTC) + timedelta(seconds=policy.timeout_seconds)
    await store.open_approval(call.call_id, session_id, expires_at)
    announced = ToolAnnounced(
        call.call_id, call.tool_name, arguments, call.agent, True, expires_at, diff
    )
    wait = Wait(call.call_id, "approval", call.tool_name, arguments, call.agent, expires_at)
    return [announced, Awaiting(wait)]


async def decide(
    store: HistoryStore, session_id: str, decision: Decision, decider: Decider
) -> ApprovalResolved:
    """Record a human's decision on a pending approval of this session; the caller publishes
    the event and lets the turn go on. Unknown calls, bad edits and late decisions are refused."""
    approval = await store.get_approval(decision.call_id)
    if approval is None or approval.session_id != session_id:
        raise Refusal(ErrorCode.UNKNOWN_CALL, f"no approval for call {decision.call_id!r}")
    call = approval.call
    arguments = call.arguments
    if decision.verdict == "edit":
        arguments = _edited(call.tool_name, call.agent, arguments, decision)
    modified = arguments if decision.verdict == "edit" else None
    status = _STATUS[decision.verdict]
    if not await store.decide_approval(
        call.id, status, decider.name, decider.role, modified, decision.feedback
    ):
        current = await store.get_approval(call.id)
        state = current.status.value if current else "decided"
        by = current.decided_by if current else "?"
        raise Refusal(ErrorCode.ALREADY_DECIDED, f"call {call.id!r} was already {state} by {by}")
    remember = decision.always_deny if decision.verdict == "reject" else decision.always_allow
    if remember:
        spec = TOOLS.get(call.tool_name)  # None: a mounted tool, remembered whole
        args = parse_arguments(spec, arguments) if spec is not None else None
        pattern = decision.allow_pattern or (args and subject(args)) or "*"
        effect = "deny" if decision.verdict == "reject" else "allow"
        await store.add_allow_rule(session_id, call.tool_name, pattern, decider.name, effect)
    runs = None if decision.verdict == "reject" else arguments
    return ApprovalResolved(call.id, decision.verdict, decider.name, decision.feedback, runs)


def _edited(
    tool_name: str, agent: str, arguments: dict[str, Any], decision: Decision
) -> dict[str, Any]:
    if not decision.modified_arguments:
        raise Refusal(ErrorCode.INVALID_DECISION, "edit needs modified_arguments")
    edited = {**arguments, **decision.modified_arguments}
    spec = TOOLS.get(tool_name)
    if spec is None:  # a mounted tool: its server checks the arguments when it runs
        return edited
    try:
        args = parse_arguments(spec, edited)
    except InvalidArguments as exc:
        raise Refusal(ErrorCode.INVALID_DECISION, str(exc)) from None
    if (why := refusal(AGENTS[agent], tool_name, args)) is not None:
        raise Refusal(ErrorCode.INVALID_DECISION, f"refused: {why}")
    return args.model_dump(exclude_unset=True)


def resume(approval: StoredApproval) -> CallState:
    """What the decision on this call means for it when the turn goes on."""
    call = approval.call
    if approval.status is ApprovalStatus.PENDING:
        return Waiting("approval", approval.expires_at)
    if approval.status is ApprovalStatus.EXPIRED:
        return Settled("expired", "error: nobody approved this call in time")
    if approval.status in _SAID_NO:
        feedback = approval.feedback or "no reason given"
        said = _SAID_NO[approval.status]
        return Settled("rejected", f"error: the user {said} this call: {feedback}")
    arguments = {**call.arguments, **(approval.modified_arguments or {})}
    return Ready(arguments, resend=not Decider.of(approval).runs_the_call)


async def expire(store: HistoryStore, call_id: str) -> ApprovalResolved | None:
    """Nobody decided in time: the call is rejected. None if a decision came first."""
    why = "nobody decided in time"
    if not await store.decide_approval(
        call_id, ApprovalStatus.EXPIRED, TIMEOUT.name, TIMEOUT.role, feedback=why
    ):
        return None
    return ApprovalResolved(call_id, "expired", TIMEOUT.name, why)


async def cancel(store: HistoryStore, call_id: str) -> ApprovalResolved | None:
    """The turn was stopped while this approval waited; None if it was not pending."""
    approval = await store.get_approval(call_id)
    if approval is None or approval.status is not ApprovalStatus.PENDING:
        return None
    await store.decide_approval(call_id, ApprovalStatus.CANCELLED, CANCEL.name, CANCEL.role)
    return ApprovalResolved(call_id, "cancelled", CANCEL.name)
