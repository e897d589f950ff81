"""Hot single-statement reads on a connection each thread keeps (SQLite).

Checking a connection out of SQLAlchemy's pool and returning it costs ~20-35 µs,
more than the opt-out ``SELECT`` it serves (~8 µs). On SQLite each thread keeps
one connection for these reads: it runs in the driver's autocommit mode with no
``BEGIN`` (``single_reader``), so between statements it holds no transaction,
no snapshot and no lock, and every read sees what other processes committed.
Elsewhere (PostgreSQL, where an open connection would sit in a transaction) a
connection is checked out per read as before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine

from relaykit.store import _compiled
from relaykit.store.engine import single_reader

__all__ = ["Lookups"]


class Lookups:
    """Runs prebuilt single-statement reads, on a kept connection where that is safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = single_reader(engine)
        self._keep = engine.dialect.name == "sqlite"
        self._local = threading.local()
        self._kept: list[Connection] = []
        self._lock = threading.Lock()

    def rows(self, statement: Any, parameters: Mapping[str, Any]) -> list[Any]:
        """The rows ``statement`` returns for ``parameters``, as tuples."""
        if not self._keep:
            with self.engine.connect() as connection:
                return _compiled.execute(connection, statement, parameters)
        connection = self._connection()
        try:
            return _compiled.execute(connection, statement, parameters)
        except Exception:
            self._local.kept = None  # a fresh connection for the next read
            connection.close()
            raise

    def close(self) -> None:
        """Return every kept connection to the pool (at shutdown: none may be in use)."""
        with self._lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            connection.close()

    def _connection(self) -> Connection:
        kept: tuple[int, Connection] | None = getattr(self._local, "kept", None)
        # after a fork the parent's connection is not this process's to use
        if kept is not None and kept[0] == os.getpid() and not kept[1].closed:
            return kept[1]
        connection = self.engine.connect()
        self._local.kept = (os.getpid(), connection)
        with self._lock:
            self._kept.append(connection)
        return connection
