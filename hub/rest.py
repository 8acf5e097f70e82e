"""REST endpoints, all JSON. Thin: parse, call the store or the live session, shape the answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.definitions import AGENTS, DEFAULT_AGENT
from agents.usage import Prices, Usage
from db.records import StoredModelCall, StoredSession
from hub import protocol
from hub.access import session_for
from hub.auth import principal_of
from hub.errors import ApiError
from hub.history import message_json
from hub.protocol.text import Text
from hub.requests import (
    existing_session,
    page_limit,
    read_json,
    read_model,
    submit,
    validation_error,
)
from hub.session import frames
from hub.state import hub_state


class CreateSession(BaseModel):
    session_id: str | None = Field(None, pattern=protocol.SESSION_ID_PATTERN)


def session_json(session: StoredSession) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "current_agent": session.current_agent,
        "created_at": session.created_at.isoformat(),
        "updated_at": session.updated_at.isoformat(),
        "owner": session.owner,
    }


async def who_am_i(request: Request) -> Response:
    """Who the credentials name: a user, or the internal key (which sees every session)."""
    principal = principal_of(request)
    return JSONResponse({"user": principal.user, "admin": principal.admin})


async def health(request: Request) -> Response:
    database = await hub_state(request).store.database_state()
    healthy = database == "writable"
    body: dict[str, object] = {
        "status": "ok" if healthy else "degraded",
        "version": hub_state(request).settings.version,
        "protocol_version": protocol.PROTOCOL_VERSION,
        # "reachable" as before when all is well; else what is wrong with it.
        "database": "reachable" if healthy else database,
        # The model is not the hub's to restart: its state is told, and costs no 503.
        "llm": await hub_state(request).llm_probe.state(),
    }
    if mcp := hub_state(request).mcp.health():
        body["mcp"] = mcp  # a server that is down costs its tools, not the hub's health
    return JSONResponse(body, status_code=200 if healthy else 503)


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
    store, user = hub_state(request).store, principal_of(request).user
    search = request.query_params.get("q")
    # A user sees their own sessions; the internal key sees everyone's.
    sessions = await store.list_sessions(limit, before, search, owner=user)
    next_before = sessions[-1].created_at.isoformat() if len(sessions) == limit else None
    return JSONResponse(
        {"sessions": [session_json(s) for s in sessions], "next_before": next_before}
    )


async def create_session(request: Request) -> Response:
    body = await read_json(request, optional=True)
    try:
        wanted = CreateSession.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc) from None
    session_id = wanted.session_id or uuid.uuid4().hex
    store = hub_state(request).store
    if await store.get_session(session_id) is not None:
        # Also when it is another's: the id cannot be had, and saying so reveals no content.
        raise ApiError(409, f"session id {session_id!r} is taken", "session_exists")
    session = await session_for(request, session_id, create=True)
    return JSONResponse(session_json(session), status_code=201)


async def session_history(request: Request) -> Response:
    session = await existing_session(request)
    limit = page_limit(request)
    raw = request.query_params.get("before")
    if raw is not None and not raw.isdigit():
        raise ApiError(400, "before must be a message id")
    messages = await hub_state(request).store.history(session.id, limit, int(raw) if raw else None)
    next_before = messages[0].id if len(messages) == limit else None
    return JSONResponse(
        {
            "session_id": session.id,
            "messages": [message_json(m) for m in messages],
            "next_before": next_before,
        }
    )


async def session_usage(request: Request) -> Response:
    """The session's token totals and its most recent model calls (`limit`, oldest first)."""
    session = await existing_session(request)
    state = hub_state(request)
    prices = state.settings.llm_prices
    totals = await state.usage.totals(session.id)
    reported = Usage.of_session(totals)
    cost = None if prices is None or reported is None else prices.cost(reported)
    calls = await state.usage.calls(session.id, page_limit(request))
    return JSONResponse(
        {
            "session_id": session.id,
            "totals": frames.session_usage(totals, cost).model_dump(),
            "calls": [model_call_json(call, prices) for call in calls],
        }
    )


def model_call_json(call: StoredModelCall, prices: Prices | None) -> dict[str, Any]:
    usage = None
    if call.prompt_tokens is not None and call.completion_tokens is not None:
        usage = Usage(call.prompt_tokens, call.completion_tokens, call.cached_tokens)
    cost = None if prices is None or usage is None else prices.cost(usage)
    return frames.token_counts(usage, cost) | {
        "id": call.id,
        "agent": call.agent,
        "purpose": call.purpose,
        "created_at": call.created_at.isoformat(),
    }


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
        for a in await hub_state(request).store.pending_approvals(session.id)
    ]
    return JSONResponse({"session_id": session.id, "approvals": approvals})


async def cancel_run(request: Request) -> Response:
    session = await existing_session(request)
    outcome = await submit(request, session.id, protocol.Cancel())
    return JSONResponse({"session_id": session.id, "cancelled": outcome.stopped})


class NewAgent(BaseModel):
    agent: str
    reason: Text = "requested by the user"


async def switch_agent(request: Request) -> Response:
    session = await existing_session(request)
    body = await read_model(request, NewAgent)
    await submit(
        request, session.id, protocol.SwitchAgent(agent_type=body.agent, reason=body.reason)
    )
    return JSONResponse({"session_id": session.id, "agent": body.agent})


async def protocol_schema(request: Request) -> Response:
    return JSONResponse(protocol.json_schema())


class TicketFor(BaseModel):
    session_id: str = Field(pattern=protocol.SESSION_ID_PATTERN)


async def ws_ticket(request: Request) -> Response:
    """A single-use ticket that opens the socket of the one session named in the body."""
    wanted = await read_model(request, TicketFor)
    await session_for(request, wanted.session_id, create=True)
    tickets = hub_state(request).tickets
    return JSONResponse(
        {
            "ticket": tickets.issue(wanted.session_id, principal_of(request)),
            "session_id": wanted.session_id,
            "expires_in": tickets.ttl_seconds,
        }
    )


routes = [
    Route("/health", health),
    Route("/agents", list_agents),
    Route("/agents/{session_id}/current", current_agent),
    Route("/sessions", list_sessions, methods=["GET"]),
    Route("/sessions", create_session, methods=["POST"]),
    Route("/sessions/{session_id}/history", session_history),
    Route("/sessions/{session_id}/pending-approvals", pending_approvals),
    Route("/sessions/{session_id}/usage", session_usage),
    Route("/sessions/{session_id}/cancel", cancel_run, methods=["POST"]),
    Route("/sessions/{session_id}/agent", switch_agent, methods=["POST"]),
    Route("/protocol/schema.json", protocol_schema),
    Route("/auth/ws-ticket", ws_ticket, methods=["POST"]),
    Route("/auth/me", who_am_i),
]
