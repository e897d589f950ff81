"""relaykit's durable store: SQLAlchemy Core on SQLite (default) or PostgreSQL, via Alembic."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from relaykit.errors import StoreError
from relaykit.store.broadcasts import Broadcasts
from relaykit.store.deliveries import Deliveries
from relaykit.store.engine import create_store_engine, default_database_url
from relaykit.store.migrate import upgrade
from relaykit.store.records import (
    AcceptedAttempt,
    Claimed,
    Created,
    DeliveryRecord,
    FailedAttempt,
    MessageRecord,
    NewMessage,
    SentOutcome,
    StatusChange,
    request_fingerprint,
)
from relaykit.store.registry import Inbound, OptOuts, RateBuckets, Senders, TemplateStore, Usage
from relaykit.store.statuses import ProviderStatuses, StatusReport, StatusResult

__all__ = [
    "AcceptedAttempt",
    "Claimed",
    "Created",
    "DeliveryRecord",
    "FailedAttempt",
    "MessageRecord",
    "NewMessage",
    "SentOutcome",
    "StatusChange",
    "StatusReport",
    "StatusResult",
    "Store",
    "request_fingerprint",
]


#: sqlite3 error names of a file that is not a database, or a damaged one.
_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


class Store:
    """The repositories over one database, migrated to the latest schema on open."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.deliveries = Deliveries(engine)
        writer = self.deliveries.group  # every async write of this store goes through it
        self.optouts = OptOuts(engine, writer)
        self.usage = Usage(engine)
        self.senders = Senders(engine, writer)
        self.templates = TemplateStore(engine)
        self.inbound = Inbound(engine, writer)
        self.rate_buckets = RateBuckets(engine, writer)
        self.statuses = ProviderStatuses(writer)
        self.broadcasts = Broadcasts(engine)

    @classmethod
    def open(cls, url: str | None = None, *, data_dir: Path | None = None) -> Store:
        """Open (and migrate) the database at ``url``, or the SQLite file in ``data_dir``.

        :raises StoreError: when the SQLite file is not a database or is damaged.
        """
        url = url or default_database_url(data_dir or Path(".relaykit"))
        engine = create_store_engine(url)
        try:
            upgrade(engine)
        except DatabaseError as exc:
            engine.dispose()
            if getattr(exc.orig, "sqlite_errorname", "") not in _DAMAGED:
                raise
            raise StoreError(
                f"the store {make_url(url).database} is not a usable SQLite database "
                f"({exc.orig}): move it aside (with any -wal and -shm files beside it) to start "
                "an empty store, or restore it from a backup; data_dir or database_url "
                "choose another file"
            ) from None
        return cls(engine)

    def close(self) -> None:
        """Stop the writer thread (after the batch in flight commits), then the engine."""
        self.deliveries.group.close()
        self.optouts.close()
        self.engine.dispose()
