"""Approvals that find the user: when a call waits for a human and nobody is watching the
session, the hub POSTs to `AGENT_RUNTIME__APPROVAL_WEBHOOK_URL` a signed body with a link to a
page of its own (`/approve/{token}`, `hub/approve_page.py`) where the call is approved or
rejected from a phone.

The body is signed with HMAC-SHA256 of `<timestamp>.<body>` under the webhook secret
(`X-Agent-Hub-Signature: t=<timestamp>,v1=<hex>`), and sent again after 1, 2, 4 and 8 s while the
receiver fails (a 4xx is not retried). A link is a token signed with a key of the hub's own (not the
webhook's secret, which the receiver holds) naming the session, the call and an expiry: nothing
is stored, and it is single-use because an approval takes one decision only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from agents.run.steps import Wait

log = logging.getLogger(__name__)

RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0)
LINK_SECONDS = 24 * 3600.0  # a link without an approval timeout is good for a day


@dataclass(frozen=True, slots=True)
class ApprovalLink:
    session_id: str
    call_id: str
    expires: float  # Unix time


class ApprovalLinks:
    """Signed, expiring tokens naming one approval. Their key is the hub's own (derived from
    the internal key), not the webhook's secret: the receiver checks the webhook with that one,
    and must not be able to make a link for any call it likes."""

    def __init__(self, hub_secret: str) -> None:
        self._key = hmac.new(hub_secret.encode(), b"agent-hub approval links", "sha256").digest()

    def token(self, session_id: str, call_id: str, expires: float) -> str:
        claims = orjson.dumps({"s": session_id, "c": call_id, "e": int(expires)})
        body = base64.urlsafe_b64encode(claims).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def read(self, token: str, now: float | None = None) -> ApprovalLink | None:
        """The approval a token names; None if it is forged, malformed or expired."""
        body, _, signature = token.partition(".")
        if not body or not token.isascii():
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return None
        try:
            claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            link = ApprovalLink(str(claims["s"]), str(claims["c"]), float(claims["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return link if link.expires > (now if now is not None else time.time()) else None

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Agent-Hub-Signature` of a webhook body, as the receiver checks it."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class ApprovalNotifier:
    def __init__(self, url: str, secret: str, public_url: str, hub_secret: str) -> None:
        self._url = url
        self._secret = secret
        self._public_url = public_url.rstrip("/")
        self.links = ApprovalLinks(hub_secret)
        self._sending: set[asyncio.Task[None]] = set()
        self._http = httpx.AsyncClient(timeout=10)

    def notify(self, session_id: str, wait: Wait) -> None:
        """Tell the user about this approval, in the background."""
        task = asyncio.create_task(self._deliver(self._body(session_id, wait)))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def aclose(self) -> None:
        for task in self._sending:
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        await self._http.aclose()

    def _body(self, session_id: str, wait: Wait) -> dict[str, Any]:
        expires = wait.deadline.timestamp() if wait.deadline else time.time() + LINK_SECONDS
        page = f"{self._public_url}/approve/{self.links.token(session_id, wait.call_id, expires)}"
        return {
            "type": "approval_waiting",
            "session_id": session_id,
            "call_id": wait.call_id,
            "tool_name": wait.tool_name,
            "arguments": wait.arguments,
            "agent": wait.agent,
            "expires_at": wait.deadline.isoformat() if wait.deadline else None,
            "link_expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
            "approve_url": page,
        }

    async def _deliver(self, body: dict[str, Any]) -> None:
        payload = orjson.dumps(body)
        for attempt, pause in enumerate((*RETRY_SECONDS, None)):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Agent-Hub-Signature": signature(self._secret, timestamp, payload),
            }
            try:
                reply = await self._http.post(self._url, content=payload, headers=headers)
                if reply.is_success or 400 <= reply.status_code < 500:
                    if not reply.is_success:
                        log.warning("approval webhook refused (%d); not retried", reply.status_code)
                    return
                why = f"HTTP {reply.status_code}"
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}"
            if pause is None:
                log.warning("approval webhook failed %d times (%s); giving up", attempt + 1, why)
                return
            log.info("approval webhook failed (%s); again in %gs", why, pause)
            await asyncio.sleep(pause)


UNWATCHED_GRACE_SECONDS = 5.0  # how long an approval nobody watches waits before it is told


class UnwatchedApprovals:
    """One session's approvals that nobody watches, told to the user once each. Looked at
    after a grace period, so a client that reconnects (after a restart, a drop, a move to
    another process), a decision on its way, or a shutdown tells nobody."""

    def __init__(
        self,
        notifier: ApprovalNotifier | None,
        session_id: str,
        unwatched: Callable[[], list[Wait]],  # the approvals waiting, if nobody watches now
        grace_seconds: float = UNWATCHED_GRACE_SECONDS,
    ) -> None:
        self._notifier = notifier
        self._session_id = session_id
        self._unwatched = unwatched
        self._grace = grace_seconds
        self._told: set[str] = set()
        self._check: asyncio.TimerHandle | None = None

    def look(self) -> None:
        """Something changed (an approval asked, a watcher gone): look again after the grace."""
        if self._notifier is None or self._check is not None or not self._unwatched():
            return
        self._check = asyncio.get_running_loop().call_later(self._grace, self._tell)

    def close(self) -> None:
        if self._check is not None:
            self._check.cancel()

    def _tell(self) -> None:
        self._check = None
        for wait in self._unwatched():
            if self._notifier is not None and wait.call_id not in self._told:
                self._told.add(wait.call_id)
                self._notifier.notify(self._session_id, wait)
