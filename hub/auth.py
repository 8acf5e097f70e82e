"""X-Internal-Auth on every endpoint but /health, and single-use tickets for browser sockets."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Collection
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from hub.errors import error_response, refuse_websocket

log = logging.getLogger(__name__)

AUTH_HEADER = "x-internal-auth"
PUBLIC_PATHS = frozenset({"/health"})
# The console's page and static files hold no data; everything they fetch needs the key.
PUBLIC_PREFIXES = ("/console",)


class TicketBook:
    """Short-lived, single-use tickets, each for one session; browsers cannot set headers on
    a WebSocket."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._issued: dict[str, tuple[str, float]] = {}  # ticket -> (session id, expiry)

    def issue(self, session_id: str) -> str:
        now = time.monotonic()
        self._issued = {t: issued for t, issued in self._issued.items() if issued[1] > now}
        ticket = secrets.token_urlsafe(24)
        self._issued[ticket] = (session_id, now + self.ttl_seconds)
        return ticket

    def redeem(self, ticket: str, session_id: str) -> bool:
        """True once, for the session the ticket was issued for, before it expires."""
        issued = self._issued.pop(ticket, None)
        if issued is None:
            return False
        return hmac.compare_digest(issued[0], session_id) and issued[1] > time.monotonic()


def origin_allowed(headers: Headers, scheme: str, allowed: Collection[str]) -> bool:
    """A socket without `Origin` is not a browser's (an IDE); a browser's must be the hub's own
    origin (its console) or one of `allowed` (AGENT_RUNTIME__ALLOWED_ORIGINS)."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    own = f"{'https' if scheme in ('https', 'wss') else 'http'}://{headers.get('host', '')}"
    return origin == own.lower() or origin in {a.rstrip("/").lower() for a in allowed}


class InternalAuth:
    """ASGI middleware; compares keys in constant time and never logs them."""

    def __init__(self, app: ASGIApp, api_key: str, tickets: TicketBook) -> None:
        self.app = app
        self._key = api_key.encode()
        self._tickets = tickets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        if scope["type"] not in ("http", "websocket") or public:
            await self.app(scope, receive, send)
            return
        if self._authorized(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("?", 0)
        log.warning(
            "rejected %s %s from %s: bad or missing X-Internal-Auth",
            scope["type"],
            scope["path"],
            client[0],
        )
        detail = "missing or wrong X-Internal-Auth header (or socket ticket)"
        if scope["type"] == "http":
            await error_response(401, detail)(scope, receive, send)
        else:
            await refuse_websocket(WebSocket(scope, receive, send), 401, detail)

    def _authorized(self, scope: Scope) -> bool:
        given = Headers(scope=scope).get(AUTH_HEADER)
        if given is not None:
            return hmac.compare_digest(given.encode(), self._key)
        if scope["type"] == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode())
            ticket = query.get("ticket", [""])[0]
            session_id = scope.get("path", "").removeprefix("/ws/")
            return bool(ticket) and self._tickets.redeem(ticket, session_id)
        return False
