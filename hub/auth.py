"""X-Internal-Auth on every endpoint but /health, and single-use tickets for browser sockets."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
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
    """Short-lived, single-use tickets; browsers cannot set headers on a WebSocket."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._expiry: dict[str, float] = {}

    def issue(self) -> str:
        now = time.monotonic()
        self._expiry = {t: exp for t, exp in self._expiry.items() if exp > now}
        ticket = secrets.token_urlsafe(24)
        self._expiry[ticket] = now + self.ttl_seconds
        return ticket

    def redeem(self, ticket: str) -> bool:
        expiry = self._expiry.pop(ticket, None)
        return expiry is not None and expiry > time.monotonic()


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
            return bool(ticket) and self._tickets.redeem(ticket)
        return False
