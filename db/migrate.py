"""Bringing the schema up to date (Tortoise ORM's native migrations in db/migrations)."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.api import migrate

from db.config import ensure_sqlite_directory, tortoise_config


async def apply_migrations(database_url: str) -> None:
    """Bring the schema up to date; safe to call on every start."""
    ensure_sqlite_directory(database_url)
    await migrate(config=tortoise_config(database_url))
    await Tortoise.close_connections()
