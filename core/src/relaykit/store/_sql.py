"""Dialect-aware SQL helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Callable
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


def upsert_statements(build: Callable[[Any], Any]) -> Callable[[Connection], Any]:
    """A per-dialect cache of a prebuilt ``INSERT … ON CONFLICT`` statement.

    ``build(insert_construct)`` is called once per dialect with that dialect's
    ``insert``; the returned function picks the statement for a connection.
    """
    built: dict[str, Any] = {}

    def for_connection(connection: Connection) -> Any:
        name = connection.dialect.name
        if name not in built:
            built[name] = build(postgresql.insert if name == "postgresql" else sqlite.insert)
        return built[name]

    return for_connection
