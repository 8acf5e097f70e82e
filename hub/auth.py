"""Credentials on every endpoint but /health: the internal key, a user token, or a single-use
ticket for a browser socket."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Collection
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from hub.errors import ApiError, error_response, refuse_websocket
from hub.identity import SERVICE, Principal, TokenVerifier

log = logging.getLogger(__name__)

AUTH_HEADER = "x-internal-auth"
PUBLIC_PATHS = frozenset({"/health"})
# The console's page and static files hold no data; everything they fetch needs the key.
PUBLIC_PREFIXES = ("/console", "/approve/")  # approval pages: their signed token is the key


class TicketBook:
    """Short-lived, single-use tickets, each for one session and the one who asked for it;
    browsers cannot set headers on a WebSocket."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._issued: dict[str, tuple[str, Principal, float]] = {}  # -> session, holder, expiry

    def issue(self, session_id: str, principal: Principal) -> str:
        now = time.monotonic()
        self._issued = {t: issued for t, issued in self._issued.items() if issued[2] > now}
        ticket = secrets.token_urlsafe(24)
        self._issued[ticket] = (session_id, principal, now + self.ttl_seconds)
        return ticket

    def redeem(self, ticket: str, session_id: str) -> Principal | None:
        """Who the ticket was issued to: once, for its session, before it expires."""
        issued = self._issued.pop(ticket, None)
        if issued is None:
            return None
        for_session, principal, expiry = issued
        if hmac.compare_digest(for_session, session_id) and expiry > time.monotonic():
            return principal
        return None


def origin_allowed(headers: Headers, scheme: str, allowed: Collection[str]) -> bool:
    """A socket without `Origin` is not a browser's (an IDE); a browser's must be the hub's own
    origin (its console) or one of `allowed` (AGENT_RUNTIME__ALLOWED_ORIGINS)."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    own = f"{'https' if scheme in ('https', 'wss') else 'http'}://{headers.get('host', '')}"
    return origin == own.lower() or origin in {a.rstrip("/").lower() for a in allowed}


class Authenticate:
    """ASGI middleware: who is asking, from the internal key, a user token or a socket ticket,
    put on the connection (`principal_of`); anything else is refused with 401 and a JSON body
    saying why. Keys are compared in constant time and never logged."""

    def __init__(
        self, app: ASGIApp, api_key: str, tickets: TicketBook, tokens: TokenVerifier
    ) -> None:
        self.app = app
        self._key = api_key.encode()
        self._tickets = tickets
        self._tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        if scope["type"] not in ("http", "websocket") or public:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._principal(scope)
        except ApiError as exc:
            client = scope.get("client") or ("?", 0)
            log.warning(
                "rejected %s %r from %s: %s", scope["type"], path[:200], client[0], exc.detail
            )
            if scope["type"] == "http":
                await error_response(401, exc.detail, exc.code)(scope, receive, send)
            else:
                await refuse_websocket(WebSocket(scope, receive, send), 401, exc.detail)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope) -> Principal:
        headers = Headers(scope=scope)
        if (given := headers.get(AUTH_HEADER)) is not None:
            if hmac.compare_digest(given.encode(), self._key):
                return SERVICE
            raise ApiError(401, "wrong X-Internal-Auth key")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            if not self._tokens.enabled:
                raise ApiError(401, f"user tokens are not enabled: {TOKENS_OFF}")
            return await self._tokens.verify(token.strip())
        if scope["type"] == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode())
            if ticket := query.get("ticket", [""])[0]:
                session_id = scope.get("path", "").removeprefix("/ws/")
                if (principal := self._tickets.redeem(ticket, session_id)) is not None:
                    return principal
                raise ApiError(401, "the socket ticket is unknown, used, expired or another's")
        raise ApiError(
            401, "missing credentials: X-Internal-Auth, Authorization: Bearer, or a socket ticket"
        )


TOKENS_OFF = "set AGENT_RUNTIME__AUTH_JWT_SECRET or AGENT_RUNTIME__AUTH_JWKS_URL"


def principal_of(connection: HTTPConnection) -> Principal:
    """Who is asking; set by `Authenticate` on every connection it lets through."""
    principal: Principal = connection.scope["state"]["principal"]
    return principal
