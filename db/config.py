"""Tortoise configuration for a database URL; `TORTOISE_ORM` serves the `tortoise` CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite://data/agent_hub.sqlite3"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": with_sqlite_defaults(database_url)},
        "apps": {
            "models": {
                "models": ["db.models"],
                "migrations": "db.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def with_sqlite_defaults(database_url: str) -> str:
    """SQLite in WAL mode (tortoise's default) syncs to disk at every commit unless told
    `synchronous=NORMAL`, SQLite's advice for WAL: a commit then survives the hub crashing, and
    only a power cut can take the last ones. A turn commits ~5 times, so this is most of its cost;
    `?synchronous=FULL` in the URL restores the sync per commit."""
    if not database_url.startswith("sqlite://") or "synchronous=" in database_url:
        return database_url
    return database_url + ("&" if "?" in database_url else "?") + "synchronous=NORMAL"


def sqlite_file(database_url: str) -> Path | None:
    """The file of an SQLite URL; None for other databases and in-memory SQLite."""
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.removeprefix("sqlite://").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def ensure_sqlite_directory(database_url: str) -> None:
    """SQLite creates the file but not its folder; make the folder on first start."""
    if (path := sqlite_file(database_url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


# Used by `uv run tortoise -c db.config.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config(os.environ.get("AGENT_RUNTIME__DATABASE_URL", DEFAULT_DATABASE_URL))
