"""The failures of the database itself (down, read-only, a connection cut), as opposed to a
bug: callers answer them with a typed `database_error` and go on."""

from __future__ import annotations

from tortoise.exceptions import DBConnectionError, OperationalError, TransactionManagementError

DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBConnectionError,
    OperationalError,
    TransactionManagementError,
    ConnectionError,
)
