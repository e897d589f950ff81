"""Dialect-aware SQL helpers shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def insert(connection: Connection, table: Table) -> Any:
    """An ``INSERT`` that supports ``on_conflict_do_nothing/update`` on this dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_if_absent(connection: Connection, statement: Any) -> bool:
    """Run ``INSERT … ON CONFLICT DO NOTHING``; True if a row was inserted.

    Asks for a returned row rather than trusting ``rowcount``, which some
    drivers report as -1 or 1 for a conflicting insert.
    """
    table = statement.table
    first_key = next(iter(table.primary_key.columns))
    result = connection.execute(statement.on_conflict_do_nothing().returning(first_key))
    return result.first() is not None
