"""Alembic environment: the engine comes from relaykit (``config.attributes["engine"]``)."""

from __future__ import annotations

from alembic import context

from relaykit.store.tables import metadata

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
