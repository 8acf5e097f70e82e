"""REST endpoints, all JSON. Thin: parse, call the store or the live session, shape the answer."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.definitions import AGENTS, DEFAULT_AGENT
from db import store
from db.models import AllowRule, ChatSession, Message
from hub import protocol
from hub.answers import SessionError, decide
from hub.errors import ApiError
from hub.state import hub_state
from tools.registry import TOOLS

M = TypeVar("M", bound=BaseModel)

_SESSION_ID = re.compile(protocol.SESSION_ID_PATTERN)
MAX_PAGE = 200


class CreateSession(BaseModel):
    session_id: str | None = Field(None, pattern=protocol.SESSION_ID_PATTERN)


async def read_json(request: Request) -> Any:
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}", "invalid_json") from None


def validation_error(exc: ValidationError) -> ApiError:
    problems = "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )
    return ApiError(422, problems, "invalid_request")


def session_id_of(request: Request) -> str:
    session_id: str = request.path_params["session_id"]
    if not _SESSION_ID.match(session_id):
        raise ApiError(400, f"session id must match {protocol.SESSION_ID_PATTERN}")
    return session_id


async def existing_session(request: Request) -> ChatSession:
    session = await store.get_session(session_id_of(request))
    if session is None:
        raise ApiError(404, f"no session {request.path_params['session_id']!r}")
    return session


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_PAGE}")
    return int(raw)


def session_json(session: ChatSession) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "current_agent": session.current_agent,
        "created_at": session.created_at.isoformat(),
        "updated_at": session.updated_at.isoformat(),
    }


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "agent": message.agent,
        "status": message.status.value,
        "tool_calls": message.tool_calls,
        "tool_call_id": message.tool_call_id,
        "created_at": message.created_at.isoformat(),
    }


async def health(request: Request) -> Response:
    reachable = await store.database_reachable()
    body = {
        "status": "ok" if reachable else "degraded",
        "version": hub_state(request).settings.version,
        "protocol_version": protocol.PROTOCOL_VERSION,
        "database": "reachable" if reachable else "unreachable",
    }
    return JSONResponse(body, status_code=200 if reachable else 503)


async def list_agents(request: Request) -> Response:
    agents = [
        {
            "name": a.name,
            "description": a.description,
            "tools": list(a.tools),
            "write_policy": a.write_policy.value,
        }
        for a in AGENTS.values()
    ]
    return JSONResponse({"agents": agents, "default_agent": DEFAULT_AGENT})


async def current_agent(request: Request) -> Response:
    session = await existing_session(request)
    live = hub_state(request).registry.get(session.id)
    agent = live.current_agent if live is not None else session.current_agent
    return JSONResponse({"session_id": session.id, "agent": agent})


async def list_sessions(request: Request) -> Response:
    limit = page_limit(request)
    before = None
    if raw := request.query_params.get("before"):
        try:
            before = datetime.fromisoformat(raw)
        except ValueError:
            raise ApiError(400, "before must be an ISO 8601 timestamp") from None
        if before.tzinfo is None:
            before = before.replace(tzinfo=UTC)
    sessions = await store.list_sessions(limit, before)
    next_before = sessions[-1].created_at.isoformat() if len(sessions) == limit else None
    return JSONResponse(
        {"sessions": [session_json(s) for s in sessions], "next_before": next_before}
    )


async def create_session(request: Request) -> Response:
    body = await read_json(request) if await request.body() else {}
    try:
        wanted = CreateSession.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc) from None
    session_id = wanted.session_id or uuid.uuid4().hex
    if await store.get_session(session_id) is not None:
        raise ApiError(409, f"session {session_id!r} already exists", "session_exists")
    session = await store.get_or_create_session(session_id, DEFAULT_AGENT)
    return JSONResponse(session_json(session), status_code=201)


async def session_history(request: Request) -> Response:
    session = await existing_session(request)
    limit = page_limit(request)
    raw = request.query_params.get("before")
    if raw is not None and not raw.isdigit():
        raise ApiError(400, "before must be a message id")
    messages = await store.history(session.id, limit, int(raw) if raw else None)
    next_before = messages[0].id if len(messages) == limit else None
    return JSONResponse(
        {
            "session_id": session.id,
            "messages": [message_json(m) for m in messages],
            "next_before": next_before,
        }
    )


async def pending_approvals(request: Request) -> Response:
    session = await existing_session(request)
    approvals = [
        {
            "call_id": a.call.id,
            "tool_name": a.call.tool_name,
            "arguments": a.call.arguments,
            "agent": a.call.agent,
            "created_at": a.created_at.isoformat(),
            "expires_at": a.expires_at.isoformat() if a.expires_at else None,
        }
        for a in await store.pending_approvals(session.id)
    ]
    return JSONResponse({"session_id": session.id, "approvals": approvals})


async def cancel_run(request: Request) -> Response:
    session = await existing_session(request)
    cancelled = (await hub_state(request).registry.open(session.id)).cancel()
    return JSONResponse({"session_id": session.id, "cancelled": cancelled})


class Decision(BaseModel):
    """The original's approval body, plus the hub's "always allow" fields."""

    decision: Literal["approve", "edit", "reject"]
    modified_arguments: dict[str, Any] | None = None
    feedback: str | None = None
    always_allow: bool = False
    allow_pattern: str | None = None


class NewAllowRule(BaseModel):
    tool_name: str = Field(min_length=1)
    pattern: str = Field(min_length=1, max_length=512)


class NewAgent(BaseModel):
    agent: str
    reason: str = "requested by the user"


_SESSION_ERROR_STATUS = {
    protocol.ErrorCode.UNKNOWN_CALL: 404,
    protocol.ErrorCode.ALREADY_DECIDED: 409,
    protocol.ErrorCode.INVALID_DECISION: 422,
    protocol.ErrorCode.UNKNOWN_AGENT: 422,
}


def session_error(exc: SessionError) -> ApiError:
    return ApiError(_SESSION_ERROR_STATUS.get(exc.code, 400), str(exc), exc.code.value)


async def read_model(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate(await read_json(request))
    except ValidationError as exc:
        raise validation_error(exc) from None


async def decide_approval(request: Request) -> Response:
    """Answer a pending approval from outside the socket (first decision wins)."""
    session = await existing_session(request)
    body = await read_model(request, Decision)
    frame = protocol.HitlDecision(call_id=request.path_params["call_id"], **body.model_dump())
    live = await hub_state(request).registry.open(session.id)
    try:
        run_id = await decide(live, frame, "rest")
    except SessionError as exc:
        raise session_error(exc) from None
    return JSONResponse({"call_id": frame.call_id, "decision": frame.decision, "run_id": run_id})


async def approval_history(request: Request) -> Response:
    await existing_session(request)
    audit = await store.approval_audit(request.path_params["call_id"])
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


def rule_json(rule: AllowRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "tool_name": rule.tool_name,
        "pattern": rule.pattern,
        "created_by": rule.created_by,
        "created_at": rule.created_at.isoformat(),
    }


async def list_allow_rules(request: Request) -> Response:
    session = await existing_session(request)
    rules = await store.allow_rules(session.id)
    return JSONResponse({"session_id": session.id, "rules": [rule_json(r) for r in rules]})


async def add_allow_rule(request: Request) -> Response:
    session = await existing_session(request)
    body = await read_model(request, NewAllowRule)
    if body.tool_name not in TOOLS:
        raise ApiError(422, f"unknown tool {body.tool_name!r}", "invalid_request")
    rule = await store.add_allow_rule(session.id, body.tool_name, body.pattern, "rest")
    return JSONResponse(rule_json(rule), status_code=201)


async def delete_allow_rule(request: Request) -> Response:
    session = await existing_session(request)
    rule_id = request.path_params["rule_id"]
    if not await store.delete_allow_rule(session.id, rule_id):
        raise ApiError(404, f"no allow rule {rule_id} in session {session.id!r}")
    return Response(status_code=204)


async def switch_agent(request: Request) -> Response:
    session = await existing_session(request)
    body = await read_model(request, NewAgent)
    live = await hub_state(request).registry.open(session.id)
    try:
        await live.switch_agent(body.agent, body.reason, "user")
    except SessionError as exc:
        raise session_error(exc) from None
    return JSONResponse({"session_id": session.id, "agent": live.current_agent})


async def protocol_schema(request: Request) -> Response:
    return JSONResponse(protocol.json_schema())


async def ws_ticket(request: Request) -> Response:
    tickets = hub_state(request).tickets
    return JSONResponse({"ticket": tickets.issue(), "expires_in": tickets.ttl_seconds})


routes = [
    Route("/health", health),
    Route("/agents", list_agents),
    Route("/agents/{session_id}/current", current_agent),
    Route("/sessions", list_sessions, methods=["GET"]),
    Route("/sessions", create_session, methods=["POST"]),
    Route("/sessions/{session_id}/history", session_history),
    Route("/sessions/{session_id}/pending-approvals", pending_approvals),
    Route("/sessions/{session_id}/cancel", cancel_run, methods=["POST"]),
    Route("/sessions/{session_id}/agent", switch_agent, methods=["POST"]),
    Route("/sessions/{session_id}/approvals/{call_id}", decide_approval, methods=["POST"]),
    Route("/sessions/{session_id}/approvals/{call_id}", approval_history, methods=["GET"]),
    Route("/sessions/{session_id}/allow-rules", list_allow_rules, methods=["GET"]),
    Route("/sessions/{session_id}/allow-rules", add_allow_rule, methods=["POST"]),
    Route(
        "/sessions/{session_id}/allow-rules/{rule_id:int}", delete_allow_rule, methods=["DELETE"]
    ),
    Route("/protocol/schema.json", protocol_schema),
    Route("/auth/ws-ticket", ws_ticket, methods=["POST"]),
]
