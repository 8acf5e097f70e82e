"""Approvals and "always allow" rules over HTTP, for clients without the socket."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from db.records import StoredRule
from hub import protocol
from hub.errors import ApiError
from hub.protocol.text import Pattern
from hub.requests import existing_session, read_frame, read_model, submit
from hub.state import hub_state
from tools.mcp import PREFIX as MOUNTED
from tools.registry import TOOLS


class NewAllowRule(BaseModel):
    tool_name: str = Field(min_length=1, max_length=64)
    pattern: Pattern = Field(min_length=1)
    effect: Literal["allow", "deny"] = "allow"


async def decide_approval(request: Request) -> Response:
    """Answer a pending approval from outside the socket (first decision wins)."""
    session = await existing_session(request)
    frame = await read_frame(request, protocol.HitlDecision, call_id=request.path_params["call_id"])
    outcome = await submit(request, session.id, frame)
    return JSONResponse(
        {"call_id": frame.call_id, "decision": frame.decision, "run_id": outcome.run_id}
    )


async def approval_history(request: Request) -> Response:
    session = await existing_session(request)
    store, call_id = hub_state(request).store, request.path_params["call_id"]
    approval = await store.get_approval(call_id)
    if approval is None or approval.session_id != session.id:  # call ids name all sessions'
        raise ApiError(404, f"no approval for call {call_id!r} in session {session.id!r}")
    audit = await store.approval_audit(call_id)
    return JSONResponse(
        {
            "call_id": request.path_params["call_id"],
            "decisions": [
                {
                    "decision": a.decision,
                    "decided_by": a.decided_by,
                    "accepted": a.accepted,
                    "modified_arguments": a.modified_arguments,
                    "feedback": a.feedback,
                    "at": a.created_at.isoformat(),
                }
                for a in audit
            ],
        }
    )


def rule_json(rule: StoredRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "tool_name": rule.tool_name,
        "pattern": rule.pattern,
        "effect": rule.effect,
        "created_by": rule.created_by,
        "created_at": rule.created_at.isoformat(),
    }


async def list_allow_rules(request: Request) -> Response:
    session = await existing_session(request)
    rules = await hub_state(request).store.allow_rules(session.id)
    return JSONResponse({"session_id": session.id, "rules": [rule_json(r) for r in rules]})


async def add_allow_rule(request: Request) -> Response:
    session = await existing_session(request)
    body = await read_model(request, NewAllowRule)
    # A mounted tool's rule may be set while its server is down: it applies once it is up.
    if body.tool_name not in TOOLS and not body.tool_name.startswith(MOUNTED):
        raise ApiError(422, f"unknown tool {body.tool_name!r}", "invalid_request")
    rule = await hub_state(request).store.add_allow_rule(
        session.id, body.tool_name, body.pattern, "rest", body.effect
    )
    return JSONResponse(rule_json(rule), status_code=201)


async def delete_allow_rule(request: Request) -> Response:
    session = await existing_session(request)
    rule_id = request.path_params["rule_id"]
    if not await hub_state(request).store.delete_allow_rule(session.id, rule_id):
        raise ApiError(404, f"no allow rule {rule_id} in session {session.id!r}")
    return Response(status_code=204)


routes = [
    Route("/sessions/{session_id}/approvals/{call_id}", decide_approval, methods=["POST"]),
    Route("/sessions/{session_id}/approvals/{call_id}", approval_history, methods=["GET"]),
    Route("/sessions/{session_id}/allow-rules", list_allow_rules, methods=["GET"]),
    Route("/sessions/{session_id}/allow-rules", add_allow_rule, methods=["POST"]),
    Route(
        "/sessions/{session_id}/allow-rules/{rule_id:int}", delete_allow_rule, methods=["DELETE"]
    ),
]
