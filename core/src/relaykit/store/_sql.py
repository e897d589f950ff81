"""Dialect-aware SQL helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Dialect, Table, TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as a UTC datetime; a naive ``value`` is taken to be UTC already."""
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Every datetime column of the store: an instant, written and compared in UTC.

    SQLite keeps naive datetimes (PITFALLS 32): SQLAlchemy binds an aware
    value's wall time and drops its offset, so ``08:00+14:00`` would be
    stored, and compared, as ``08:00`` UTC. Each value bound to one of these
    columns (inserts, updates and every ``WHERE`` comparison) is converted to
    UTC first, and each value read back is an aware UTC datetime, on SQLite
    and PostgreSQL alike. A naive value is taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


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
