"""Database engines: SQLite (the embedded default) done right, and PostgreSQL.

SQLite: every write transaction begins with ``BEGIN IMMEDIATE`` (PITFALLS 19: with a
plain ``BEGIN`` a read that later writes cannot wait on the busy timeout and
fails at once with "database is locked"), WAL journal, a busy timeout and
foreign keys on. This is SQLAlchemy's documented pysqlite recipe: turn off the
driver's own transaction handling and emit ``BEGIN`` ourselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

__all__ = ["create_store_engine", "default_database_url", "reader", "single_reader"]

BUSY_TIMEOUT_MS = 10_000


def default_database_url(data_dir: Path) -> str:
    """The embedded default: a SQLite file in the data directory."""
    return f"sqlite:///{(data_dir / 'relaykit.db').resolve()}"


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``, with the SQLite recipe applied when it is SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "isolation_level": None}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Reads (engines derived with readonly=True) must not take the write lock.
        options = connection.get_execution_options()
        if options.get("single_statement", False):
            return  # one SELECT in autocommit mode is its own read transaction
        connection.exec_driver_sql("BEGIN" if options.get("readonly", False) else "BEGIN IMMEDIATE")

    return engine


def reader(engine: Engine) -> Engine:
    """The same engine for reads only: on SQLite its transactions begin deferred (no write lock)."""
    return engine.execution_options(readonly=True)


def single_reader(engine: Engine) -> Engine:
    """:func:`reader` for connections that run one ``SELECT`` each (the hot-path lookups):
    on SQLite no ``BEGIN``, as that statement is a consistent read transaction on its own."""
    return engine.execution_options(readonly=True, single_statement=True)
