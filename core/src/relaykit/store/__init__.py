"""relaykit's durable store: SQLAlchemy Core on SQLite (default) or PostgreSQL, via Alembic."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from relaykit.store.deliveries import Deliveries
from relaykit.store.engine import create_store_engine, default_database_url
from relaykit.store.migrate import upgrade
from relaykit.store.records import (
    DeliveryRecord,
    MessageRecord,
    NewMessage,
    StatusChange,
    request_fingerprint,
)
from relaykit.store.registry import Inbound, OptOuts, RateBuckets, Senders, TemplateStore, Usage

__all__ = [
    "DeliveryRecord",
    "MessageRecord",
    "NewMessage",
    "StatusChange",
    "Store",
    "request_fingerprint",
]


class Store:
    """The repositories over one database, migrated to the latest schema on open."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.deliveries = Deliveries(engine)
        self.optouts = OptOuts(engine)
        self.usage = Usage(engine)
        self.senders = Senders(engine)
        self.templates = TemplateStore(engine)
        self.inbound = Inbound(engine)
        self.rate_buckets = RateBuckets(engine, self.deliveries.group)

    @classmethod
    def open(cls, url: str | None = None, *, data_dir: Path | None = None) -> Store:
        """Open (and migrate) the database at ``url``, or the SQLite file in ``data_dir``."""
        engine = create_store_engine(url or default_database_url(data_dir or Path(".relaykit")))
        upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()
