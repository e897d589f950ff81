"""The store's tables (SQLAlchemy Core). Alembic migrations create exactly these.

Uniqueness that the rules depend on is enforced by the database, never by a
read-then-write: idempotency keys, callback dedupe keys, opt-outs, monthly
counters and active sender assignments are unique indexes written with
``INSERT … ON CONFLICT``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from relaykit.store._sql import UtcDateTime

__all__ = [
    "attempts",
    "broadcasts",
    "callback_receipts",
    "inbound_messages",
    "messages",
    "metadata",
    "notifications",
    "optouts",
    "rate_buckets",
    "sender_assignments",
    "status_events",
    "template_overrides",
    "usage_counters",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _now_column(name: str) -> Column[object]:
    return Column(name, UtcDateTime(), nullable=False)


#: One call to ``notify``: an event for one recipient, routed over one or more channels.
notifications = Table(
    "notifications",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant", String(100), nullable=False),
    Column("event", String(100), nullable=False),
    Column("recipient_id", String(200), nullable=False),
    Column("recipient", JSON, nullable=False),
    Column("data", JSON, nullable=False),
    Column("staff_user", String(200)),
    Column("staff", JSON),
    Column("idempotency_key", String(200)),
    Column("state", String(20), nullable=False),
    Column("channel", String(20)),
    _now_column("created_at"),
    _now_column("updated_at"),
    #: the broadcast that made it, if one did
    Column("broadcast_id", String(32), index=True),
    UniqueConstraint("tenant", "idempotency_key"),
    Index(None, "tenant", "created_at"),
)

#: One message on one channel; a notification that falls back has several.
messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("notification_id", String(32), ForeignKey("notifications.id"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("tenant", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("instance", String(100), nullable=False),
    Column("to_address", String(320), nullable=False),
    Column("sender", String(100)),
    Column("subject", Text),
    Column("body", Text, nullable=False),
    Column("html_body", Text),
    Column("status", String(30), nullable=False),
    Column("provider_message_id", String(200)),
    Column("segments", Integer),
    Column("encoding", String(10)),
    Column("error_code", String(50)),
    Column("error_message", Text),
    Column("fallback_reason", String(50)),
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UtcDateTime()),
    Column("deadline_at", UtcDateTime()),
    #: the first transient failure of the current run of retries (the retry budget's start)
    Column("failing_since", UtcDateTime()),
    #: JSON ``{"id", "variables"}`` of the provider-approved template sent instead of the body
    Column("provider_template", Text),
    _now_column("created_at"),
    _now_column("updated_at"),
    UniqueConstraint("instance", "provider_message_id"),
    Index(None, "notification_id", "step"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "deadline_at"),
    Index(None, "tenant", "created_at"),
)

#: Every status a message went through, in the order relaykit learned it.
status_events = Table(
    "status_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(32), ForeignKey("messages.id"), nullable=False),
    Column("status", String(30), nullable=False),
    Column("source", String(20), nullable=False),
    Column("error_code", String(50)),
    Column("detail", Text),
    Column("applied", Boolean, nullable=False),
    _now_column("recorded_at"),
    Index(None, "message_id", "id"),
)

#: Each provider call, committed as in flight before the call and with its outcome after.
attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(32), ForeignKey("messages.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("error_kind", String(50)),
    Column("error_code", String(50)),
    Column("error_message", Text),
    _now_column("started_at"),
    Column("finished_at", UtcDateTime()),
    UniqueConstraint("message_id", "number"),
    Index(None, "state"),
)

#: Callback dedupe: a replayed webhook (same key) changes nothing.
callback_receipts = Table(
    "callback_receipts",
    metadata,
    Column("dedupe_key", String(300), primary_key=True),
    _now_column("received_at"),
)

#: Opt-out registry, keyed on the normalised address (E.164 for phones).
optouts = Table(
    "optouts",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("opted_out", Boolean, nullable=False),
    Column("source", String(50), nullable=False),
    Column("recipient_id", String(200)),
    _now_column("updated_at"),
)

#: Messages sent per tenant, calendar month (tenant time zone) and channel.
usage_counters = Table(
    "usage_counters",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("count", Integer, nullable=False),
)

#: Sender numbers from a tenant's pool, assigned to staff users until released.
sender_assignments = Table(
    "sender_assignments",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("staff_user", String(200), nullable=False),
    Column("staff_email", String(320)),
    _now_column("assigned_at"),
    UniqueConstraint("tenant", "staff_user"),
)

#: Tenant overrides of the shipped templates.
template_overrides = Table(
    "template_overrides",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("event", String(100), primary_key=True),
    Column("part", String(30), primary_key=True),
    Column("source", Text, nullable=False),
    _now_column("updated_at"),
)

#: Messages people sent to one of the tenant's numbers.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant", String(100), nullable=False),
    Column("instance", String(100), nullable=False),
    Column("provider_message_id", String(200), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("sender", String(320), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("body", Text, nullable=False),
    Column("media_urls", JSON, nullable=False),
    Column("staff_user", String(200)),
    _now_column("received_at"),
    UniqueConstraint("instance", "provider_message_id"),
)

#: Token buckets per sender, shared by every worker on the same database.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

#: One send of an event to many recipients; its notifications carry its id.
broadcasts = Table(
    "broadcasts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant", String(100), nullable=False),
    Column("event", String(100), nullable=False),
    #: unique per tenant: the same key resumes the same broadcast
    Column("key", String(150), nullable=False),
    Column("data", JSON, nullable=False),
    Column("deadline_seconds", Float),
    Column("state", String(20), nullable=False),
    Column("recipients_read", Integer, nullable=False, server_default=text("0")),
    Column("bad_rows", Integer, nullable=False, server_default=text("0")),
    Column("enqueue_done", Boolean, nullable=False, server_default=false()),
    _now_column("created_at"),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    UniqueConstraint("tenant", "key"),
)
