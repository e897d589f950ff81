"""Per-tenant registries: opt-outs, usage, sender assignments, template overrides, inbound."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, select, update

from relaykit.store._sql import as_utc, insert, insert_if_absent, utcnow
from relaykit.store.records import new_id
from relaykit.store.tables import (
    inbound_messages,
    optouts,
    rate_buckets,
    sender_assignments,
    template_overrides,
    usage_counters,
)

__all__ = [
    "Inbound",
    "OptOutEntry",
    "OptOuts",
    "RateBuckets",
    "SenderAssignment",
    "Senders",
    "TemplateStore",
    "Usage",
]


@dataclass(frozen=True)
class OptOutEntry:
    tenant: str
    channel: str
    address: str
    opted_out: bool
    source: str
    recipient_id: str | None
    updated_at: datetime


class OptOuts:
    """Who asked not to be messaged on which address (normalised: E.164 for phones)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def set(
        self,
        tenant: str,
        channel: str,
        addresses: Iterable[str],
        *,
        opted_out: bool,
        source: str,
        recipient_id: str | None = None,
    ) -> None:
        """Upsert the state of each address (one transaction)."""
        now = utcnow()
        with self.engine.begin() as connection:
            for address in addresses:
                statement = insert(connection, optouts).values(
                    tenant=tenant,
                    channel=channel,
                    address=address,
                    opted_out=opted_out,
                    source=source,
                    recipient_id=recipient_id,
                    updated_at=now,
                )
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["tenant", "channel", "address"],
                        set_={
                            "opted_out": opted_out,
                            "source": source,
                            "updated_at": now,
                            "recipient_id": statement.excluded.recipient_id,
                        },
                    )
                )

    def opted_out(self, tenant: str, channel: str, addresses: Sequence[str]) -> frozenset[str]:
        """The subset of ``addresses`` that are opted out."""
        if not addresses:
            return frozenset()
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(optouts.c.address).where(
                    and_(
                        optouts.c.tenant == tenant,
                        optouts.c.channel == channel,
                        optouts.c.address.in_(list(addresses)),
                        optouts.c.opted_out.is_(True),
                    )
                )
            ).all()
        return frozenset(row.address for row in rows)

    def entries(self, tenant: str | None = None) -> list[OptOutEntry]:
        query = select(optouts).order_by(optouts.c.tenant, optouts.c.address)
        if tenant:
            query = query.where(optouts.c.tenant == tenant)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            OptOutEntry(
                r.tenant,
                r.channel,
                r.address,
                r.opted_out,
                r.source,
                r.recipient_id,
                as_utc(r.updated_at),
            )
            for r in rows
        ]


class Usage:
    """Monthly message counters (written with the send, read here)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def count(self, tenant: str, month: str, channel: str) -> int:
        with self.engine.connect() as connection:
            value = connection.execute(
                select(usage_counters.c.count).where(
                    and_(
                        usage_counters.c.tenant == tenant,
                        usage_counters.c.month == month,
                        usage_counters.c.channel == channel,
                    )
                )
            ).scalar_one_or_none()
        return int(value or 0)


@dataclass(frozen=True)
class SenderAssignment:
    tenant: str
    number: str
    staff_user: str
    staff_email: str | None
    assigned_at: datetime


def _assignment(row: Any) -> SenderAssignment:
    return SenderAssignment(
        row.tenant,
        row.number,
        row.staff_user,
        row.staff_email,
        as_utc(row.assigned_at),
    )


class Senders:
    """Sender numbers from a tenant's pool, held by staff users until released."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def assign(
        self, tenant: str, staff_user: str, pool: Sequence[str], *, staff_email: str | None = None
    ) -> str | None:
        """The staff user's number, assigning a free one from ``pool`` on first use.

        :returns: the number, or ``None`` when the pool is used up.
        """
        with self.engine.begin() as connection:
            held = connection.execute(
                select(sender_assignments.c.number).where(
                    and_(
                        sender_assignments.c.tenant == tenant,
                        sender_assignments.c.staff_user == staff_user,
                    )
                )
            ).scalar_one_or_none()
            if held is not None:
                return str(held)
            for number in pool:
                statement = insert(connection, sender_assignments).values(
                    tenant=tenant,
                    number=number,
                    staff_user=staff_user,
                    staff_email=staff_email,
                    assigned_at=utcnow(),
                )
                if insert_if_absent(connection, statement):
                    return number
        return None

    def release(
        self, tenant: str, *, staff_user: str | None = None, number: str | None = None
    ) -> int:
        """Release a staff user's number (or a number); returns how many were released."""
        condition = sender_assignments.c.tenant == tenant
        if staff_user:
            condition = and_(condition, sender_assignments.c.staff_user == staff_user)
        if number:
            condition = and_(condition, sender_assignments.c.number == number)
        with self.engine.begin() as connection:
            return int(connection.execute(delete(sender_assignments).where(condition)).rowcount)

    def holder(self, tenant: str, number: str) -> SenderAssignment | None:
        """Who holds ``number`` now, if anyone."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(sender_assignments).where(
                    and_(
                        sender_assignments.c.tenant == tenant, sender_assignments.c.number == number
                    )
                )
            ).one_or_none()
        return _assignment(row) if row else None

    def assignments(self, tenant: str | None = None) -> list[SenderAssignment]:
        query = select(sender_assignments).order_by(
            sender_assignments.c.tenant, sender_assignments.c.number
        )
        if tenant:
            query = query.where(sender_assignments.c.tenant == tenant)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [_assignment(row) for row in rows]


class TemplateStore:
    """Tenant overrides of the shipped templates, keyed by event and part."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, tenant: str, event: str, part: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(template_overrides.c.source).where(
                    and_(
                        template_overrides.c.tenant == tenant,
                        template_overrides.c.event == event,
                        template_overrides.c.part == part,
                    )
                )
            ).scalar_one_or_none()

    def set(self, tenant: str, event: str, part: str, source: str) -> None:
        now = utcnow()
        with self.engine.begin() as connection:
            statement = insert(connection, template_overrides).values(
                tenant=tenant, event=event, part=part, source=source, updated_at=now
            )
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant", "event", "part"],
                    set_={"source": source, "updated_at": now},
                )
            )

    def reset(self, tenant: str, event: str, part: str | None = None) -> None:
        condition = and_(template_overrides.c.tenant == tenant, template_overrides.c.event == event)
        if part:
            condition = and_(condition, template_overrides.c.part == part)
        with self.engine.begin() as connection:
            connection.execute(delete(template_overrides).where(condition))


class Inbound:
    """Messages people sent to the tenant's numbers; a replay is stored once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, **values: Any) -> str | None:
        """Store an inbound message; ``None`` if this provider message id was stored before."""
        inbound_id = new_id()
        with self.engine.begin() as connection:
            statement = insert(connection, inbound_messages).values(
                id=inbound_id, received_at=utcnow(), **values
            )
            inserted = insert_if_absent(connection, statement)
        return inbound_id if inserted else None

    def messages(
        self, tenant: str | None = None, staff_user: str | None = None
    ) -> list[dict[str, Any]]:
        query = select(inbound_messages).order_by(inbound_messages.c.received_at)
        if tenant:
            query = query.where(inbound_messages.c.tenant == tenant)
        if staff_user:
            query = query.where(inbound_messages.c.staff_user == staff_user)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query).all()]


class RateBuckets:
    """Token buckets kept in the database, so every worker on it shares one rate per sender."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def reserve(self, key: str, rate: float, burst: float = 1.0) -> float:
        """Take a token for ``key``; returns the seconds to wait before using it.

        Tokens refill at ``rate`` per second up to ``burst``. A caller that finds
        none reserves the next one (the bucket goes negative) and waits, so
        concurrent senders queue up instead of retrying in a herd.
        """
        now = time.time()
        with self.engine.begin() as connection:
            query = select(rate_buckets.c.tokens, rate_buckets.c.updated_at).where(
                rate_buckets.c.key == key
            )
            if connection.dialect.name == "postgresql":
                query = query.with_for_update()
            row = connection.execute(query).one_or_none()
            if row is None:
                tokens = burst - 1.0
                statement = insert(connection, rate_buckets).values(
                    key=key, tokens=tokens, updated_at=now
                )
                if not insert_if_absent(connection, statement):
                    return self.reserve(key, rate, burst)  # a concurrent first use won the insert
            else:
                tokens = min(burst, row.tokens + (now - row.updated_at) * rate) - 1.0
                connection.execute(
                    update(rate_buckets)
                    .where(rate_buckets.c.key == key)
                    .values(tokens=tokens, updated_at=now)
                )
        return max(0.0, -tokens / rate)
