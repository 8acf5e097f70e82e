"""Whose session it is: every door asks here before it touches one.

A session belongs to the user whose token created it; the internal key's sessions belong to no
user. A user who names another's session is told it does not exist, so ids reveal nothing.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from agents.definitions import DEFAULT_AGENT
from agents.vocab import ClientRole
from db.records import StoredSession
from hub.auth import principal_of
from hub.errors import ApiError
from hub.session.commands import Sender
from hub.state import hub_state


def no_session(session_id: str) -> ApiError:
    return ApiError(404, f"no session {session_id!r}")


async def session_for(
    connection: HTTPConnection, session_id: str, *, create: bool = False
) -> StoredSession:
    """The session if the caller may use it, else 404; `create`: a new one is the caller's."""
    store, principal = hub_state(connection).store, principal_of(connection)
    if create:
        session = await store.get_or_create_session(session_id, DEFAULT_AGENT, principal.user)
    elif (found := await store.get_session(session_id)) is not None:
        session = found
    else:
        raise no_session(session_id)
    if not principal.may_use(session.owner):
        raise no_session(session_id)
    return session


def sender_for(connection: HTTPConnection, role: ClientRole, client: str) -> Sender:
    """Who sends the commands of this connection, as the audit trail names them."""
    return Sender.of(role, client, principal_of(connection).user)
