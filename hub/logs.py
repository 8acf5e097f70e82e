"""Log lines through structlog: readable lines on a terminal, one JSON object per line with
`AGENT_RUNTIME__LOG_FORMAT=json`. The hub's modules and uvicorn log with the standard library;
every line is rendered here, carrying the ids bound to the task that logged it (`bind`): the
session, the run, the client and the user."""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

import structlog

LogFormat = Literal["console", "json"]


def configure(level: str, log_format: LogFormat) -> None:
    """Send every logger, uvicorn's too, through one handler on stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    last: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        last.append(structlog.processors.format_exc_info)  # the traceback as a field
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, processors=[*last, renderer]
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    handler.addFilter(_redact)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []  # theirs would print the line a second time
        logging.getLogger(name).propagate = True


# Credentials that travel in URLs, which uvicorn logs: an approval link's token, a socket ticket.
_IN_URLS = re.compile(r"(/approve/)[^\s?&\"#]+|([?&]ticket=)[^\s&\"#]+")


def _hidden(found: re.Match[str]) -> str:
    return (found.group(1) or found.group(2)) + "[redacted]"


def _redact(record: logging.LogRecord) -> bool:
    if isinstance(record.args, tuple):
        record.args = tuple(
            _IN_URLS.sub(_hidden, a) if isinstance(a, str) else a for a in record.args
        )
    return True


def bind(**ids: str | None) -> None:
    """Add these ids to every line the current task (and the tasks it starts) logs from now on;
    None values are left out. What the task inherited from the one that started it goes: a
    run started at the end of another must not carry its ids."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})
