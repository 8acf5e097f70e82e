"""The one mapping of a failure to what the client is told: a known refusal keeps its code, the
database's own failures are `database_error`, anything else is logged with a traceback and is
`internal_error`. Used for commands (`LiveSession.submit`) and runs alike."""

from __future__ import annotations

import logging

from agents.vocab import ErrorCode, Refusal
from db.errors import DATABASE_ERRORS
from hub.session.commands import Refused

log = logging.getLogger(__name__)


def refusal_for(exc: Exception, session_id: str, doing: str) -> Refused:
    """`doing` names what failed for the log and the message, e.g. "this tool_result"."""
    if isinstance(exc, Refusal):
        return Refused(code=exc.code, message=exc.message)
    if isinstance(exc, DATABASE_ERRORS):
        log.warning("session %s: the database failed on %s: %s", session_id, doing, exc)
        message = f"the database did not take the change ({exc}); try again when it is back"
        return Refused(code=ErrorCode.DATABASE_ERROR, message=message)
    log.error("session %s: %s failed", session_id, doing, exc_info=exc)
    message = f"the hub failed on {doing}; the error is in its log"
    return Refused(code=ErrorCode.INTERNAL_ERROR, message=message)
