"""Per-tenant registries: opt-outs, usage, sender assignments, template overrides, inbound."""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

from relaykit.store import _compiled
from relaykit.store._lookup import Lookups
from relaykit.store._sql import insert, insert_if_absent, upsert_statements, utcnow
from relaykit.store.engine import reader
from relaykit.store.group_commit import GroupCommitter
from relaykit.store.outcomes import first_time_in
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


@functools.lru_cache(maxsize=64)
def _opted_out_among(count: int) -> Any:
    """The opt-out lookup for ``count`` addresses, bound one by one (``a0``, ``a1``, …),
    so it compiles once per count and runs on the fast path."""
    return select(optouts.c.address).where(
        optouts.c.tenant == bindparam("tenant"),
        optouts.c.channel == bindparam("channel"),
        optouts.c.address.in_([bindparam(f"a{i}") for i in range(count)]),
        optouts.c.opted_out.is_(True),
    )


_OPTED_OUT_IN = select(optouts.c.address).where(
    optouts.c.tenant == bindparam("tenant"),
    optouts.c.channel == bindparam("channel"),
    optouts.c.address.in_(bindparam("addresses", expanding=True)),
    optouts.c.opted_out.is_(True),
)

_OVERRIDES = select(
    template_overrides.c.event, template_overrides.c.part, template_overrides.c.source
).where(template_overrides.c.tenant == bindparam("tenant"))
_USAGE = select(usage_counters.c.count).where(
    usage_counters.c.tenant == bindparam("tenant"),
    usage_counters.c.month == bindparam("month"),
    usage_counters.c.channel == bindparam("channel"),
)


def _least(insert_into: Any) -> Any:
    return func.least if insert_into is postgresql_insert else func.min


_RESERVE = upsert_statements(
    lambda insert_into: (
        insert_into(rate_buckets)
        .values(tokens=bindparam("burst") - 1.0, updated_at=bindparam("now"))
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "tokens": _least(insert_into)(
                    bindparam("burst"),
                    rate_buckets.c.tokens
                    + (bindparam("now") - rate_buckets.c.updated_at) * bindparam("rate"),
                )
                - 1.0,
                "updated_at": bindparam("now"),
            },
        )
        .returning(rate_buckets.c.tokens)
    )
)

_REFUND = (
    update(rate_buckets)
    .where(rate_buckets.c.key == bindparam("bucket"))
    .values(tokens=rate_buckets.c.tokens + 1.0)
)

#: ``_RESERVE`` for ``take`` tokens at once (a block lease).
_LEASE = upsert_statements(
    lambda insert_into: (
        insert_into(rate_buckets)
        .values(tokens=bindparam("burst") - bindparam("take"), updated_at=bindparam("now"))
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "tokens": _least(insert_into)(
                    bindparam("burst"),
                    rate_buckets.c.tokens
                    + (bindparam("now") - rate_buckets.c.updated_at) * bindparam("rate"),
                )
                - bindparam("take"),
                "updated_at": bindparam("now"),
            },
        )
        .returning(rate_buckets.c.tokens)
    )
)
_GIVE_BACK = (
    update(rate_buckets)
    .where(rate_buckets.c.key == bindparam("bucket"))
    .values(tokens=rate_buckets.c.tokens + bindparam("count"))
)


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

    def __init__(self, engine: Engine, group: GroupCommitter | None = None) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self._lookups = Lookups(engine)
        self._group = group or GroupCommitter(engine)
        #: (tenant, channel) -> (addresses looked up in bulk, those opted out): see preloaded
        self._preloaded: dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]] = {}

    def among(self, tenant: str, channel: str, addresses: Sequence[str]) -> frozenset[str]:
        """:meth:`opted_out` for many addresses at once (a broadcast's chunk): one query."""
        if not addresses:
            return frozenset()
        with self.reader.connect() as connection:
            rows = connection.execute(
                _OPTED_OUT_IN, {"tenant": tenant, "channel": channel, "addresses": addresses}
            )
            return frozenset(str(address) for (address,) in rows)

    @contextlib.contextmanager
    def preloaded(
        self, tenant: str, found: Mapping[str, tuple[frozenset[str], frozenset[str]]]
    ) -> Iterator[None]:
        """Within the block, :meth:`opted_out` answers from ``found`` (per channel: the
        addresses :meth:`among` looked up, and those opted out) when it knows every address
        asked about, else from the database. Only for synchronous code (planning a chunk):
        no other coroutine runs, so none sees the preloaded answers."""
        self._preloaded = {(tenant, channel): pair for channel, pair in found.items()}
        try:
            yield
        finally:
            self._preloaded = {}

    def set(
        self,
        tenant: str,
        channel: str,
        addresses: Iterable[str],
        *,
        opted_out: bool,
        source: str,
        recipient_id: str | None = None,
        dedupe_key: str | None = None,
    ) -> bool:
        """Upsert the state of each address (one transaction).

        :param dedupe_key: a callback's key, recorded in the same transaction.
        :returns: False (and nothing changed) when ``dedupe_key`` was seen before.
        """
        with self.engine.begin() as connection:
            return self._set_in(
                connection,
                tenant,
                channel,
                list(addresses),
                opted_out,
                source,
                recipient_id,
                dedupe_key,
            )

    async def aset(
        self,
        tenant: str,
        channel: str,
        addresses: Iterable[str],
        *,
        opted_out: bool,
        source: str,
        recipient_id: str | None = None,
        dedupe_key: str | None = None,
    ) -> bool:
        """:meth:`set` through the writer (group-committed, off the event loop)."""
        listed = list(addresses)
        return await self._group.run(
            lambda connection: self._set_in(
                connection, tenant, channel, listed, opted_out, source, recipient_id, dedupe_key
            )
        )

    def _set_in(
        self,
        connection: Connection,
        tenant: str,
        channel: str,
        addresses: list[str],
        opted_out: bool,
        source: str,
        recipient_id: str | None,
        dedupe_key: str | None,
    ) -> bool:
        if dedupe_key is not None and not first_time_in(connection, dedupe_key):
            return False
        now = utcnow()
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
        return True

    def opted_out(self, tenant: str, channel: str, addresses: Sequence[str]) -> frozenset[str]:
        """The subset of ``addresses`` that are opted out."""
        if not addresses:
            return frozenset()
        known = self._preloaded.get((tenant, channel)) if self._preloaded else None
        if known is not None and known[0].issuperset(addresses):
            return known[1].intersection(addresses)
        parameters = {f"a{i}": address for i, address in enumerate(addresses)}
        parameters.update(tenant=tenant, channel=channel)
        rows = self._lookups.rows(_opted_out_among(len(addresses)), parameters)
        return frozenset(str(address) for (address,) in rows)

    def close(self) -> None:
        """Return the connections kept for lookups to the pool."""
        self._lookups.close()

    def entries(self, tenant: str | None = None) -> list[OptOutEntry]:
        query = select(optouts).order_by(optouts.c.tenant, optouts.c.address)
        if tenant:
            query = query.where(optouts.c.tenant == tenant)
        with self.reader.connect() as connection:
            rows = connection.execute(query).all()
        return [
            OptOutEntry(
                r.tenant,
                r.channel,
                r.address,
                r.opted_out,
                r.source,
                r.recipient_id,
                r.updated_at,
            )
            for r in rows
        ]


class Usage:
    """Monthly message counters (written with the send, read here)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    def count(self, tenant: str, month: str, channel: str) -> int:
        with self.reader.connect() as connection:
            value = connection.execute(
                _USAGE, {"tenant": tenant, "month": month, "channel": channel}
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
        row.assigned_at,
    )


class Senders:
    """Sender numbers from a tenant's pool, held by staff users until released."""

    def __init__(self, engine: Engine, group: GroupCommitter | None = None) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self._group = group or GroupCommitter(engine)

    def assign(
        self, tenant: str, staff_user: str, pool: Sequence[str], *, staff_email: str | None = None
    ) -> str | None:
        """The staff user's number, assigning a free one from ``pool`` on first use.

        :returns: the number, or ``None`` when the pool is used up.
        """
        with self.engine.begin() as connection:
            return self._assign_in(connection, tenant, staff_user, list(pool), staff_email)

    async def aassign(
        self, tenant: str, staff_user: str, pool: Sequence[str], *, staff_email: str | None = None
    ) -> str | None:
        """:meth:`assign` through the writer (group-committed, off the event loop)."""
        numbers = list(pool)
        return await self._group.run(
            lambda connection: self._assign_in(connection, tenant, staff_user, numbers, staff_email)
        )

    def _assign_in(
        self,
        connection: Connection,
        tenant: str,
        staff_user: str,
        pool: list[str],
        staff_email: str | None,
    ) -> str | None:
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
        with self.engine.begin() as connection:
            return self._release_in(connection, tenant, staff_user, number)

    async def arelease(
        self, tenant: str, *, staff_user: str | None = None, number: str | None = None
    ) -> int:
        """:meth:`release` through the writer (group-committed, off the event loop)."""
        return await self._group.run(
            lambda connection: self._release_in(connection, tenant, staff_user, number)
        )

    def _release_in(
        self, connection: Connection, tenant: str, staff_user: str | None, number: str | None
    ) -> int:
        condition = sender_assignments.c.tenant == tenant
        if staff_user:
            condition = and_(condition, sender_assignments.c.staff_user == staff_user)
        if number:
            condition = and_(condition, sender_assignments.c.number == number)
        return int(connection.execute(delete(sender_assignments).where(condition)).rowcount)

    def holder(self, tenant: str, number: str) -> SenderAssignment | None:
        """Who holds ``number`` now, if anyone."""
        with self.reader.connect() as connection:
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
        with self.reader.connect() as connection:
            rows = connection.execute(query).all()
        return [_assignment(row) for row in rows]


class TemplateStore:
    """Tenant overrides of the shipped templates, keyed by event and part.

    Reads are served from a copy of a tenant's overrides that is reloaded after
    ``cache_seconds`` (and at once after a change made through this store), so
    rendering does not query the database per message; a change made by another
    process is seen within ``cache_seconds``.
    """

    def __init__(self, engine: Engine, *, cache_seconds: float = 5.0) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[tuple[str, str], str]]] = {}

    def get(self, tenant: str, event: str, part: str) -> str | None:
        loaded = self._cache.get(tenant)
        if loaded is None or time.monotonic() - loaded[0] > self.cache_seconds:
            with self.reader.connect() as connection:
                rows = connection.execute(_OVERRIDES, {"tenant": tenant}).all()
            loaded = (time.monotonic(), {(r.event, r.part): r.source for r in rows})
            self._cache[tenant] = loaded
        return loaded[1].get((event, str(part)))

    def set(self, tenant: str, event: str, part: str, source: str) -> None:
        self._cache.pop(tenant, None)
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
        self._cache.pop(tenant, None)
        condition = and_(template_overrides.c.tenant == tenant, template_overrides.c.event == event)
        if part:
            condition = and_(condition, template_overrides.c.part == part)
        with self.engine.begin() as connection:
            connection.execute(delete(template_overrides).where(condition))


class Inbound:
    """Messages people sent to the tenant's numbers; a replay is stored once."""

    def __init__(self, engine: Engine, group: GroupCommitter | None = None) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self._group = group or GroupCommitter(engine)

    def record(self, dedupe_key: str | None = None, **values: Any) -> str | None:
        """Store an inbound message; ``None`` if it (or ``dedupe_key``) was stored before."""
        with self.engine.begin() as connection:
            return self._record_in(connection, dedupe_key, values)

    async def arecord(self, dedupe_key: str | None = None, **values: Any) -> str | None:
        """:meth:`record` through the writer (group-committed, off the event loop)."""
        return await self._group.run(
            lambda connection: self._record_in(connection, dedupe_key, values)
        )

    def _record_in(
        self, connection: Connection, dedupe_key: str | None, values: dict[str, Any]
    ) -> str | None:
        if dedupe_key is not None and not first_time_in(connection, dedupe_key):
            return None
        inbound_id = new_id()
        statement = insert(connection, inbound_messages).values(
            id=inbound_id, received_at=utcnow(), **values
        )
        return inbound_id if insert_if_absent(connection, statement) else None

    def messages(
        self, tenant: str | None = None, staff_user: str | None = None
    ) -> list[dict[str, Any]]:
        query = select(inbound_messages).order_by(inbound_messages.c.received_at)
        if tenant:
            query = query.where(inbound_messages.c.tenant == tenant)
        if staff_user:
            query = query.where(inbound_messages.c.staff_user == staff_user)
        with self.reader.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query).all()]


class RateBuckets:
    """Token buckets kept in the database, so every worker on it shares one rate per sender."""

    def __init__(self, engine: Engine, group: GroupCommitter) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self._group = group

    def reserve(
        self, key: str, rate: float, burst: float = 1.0, *, max_wait: float = math.inf
    ) -> float:
        """Take a token for ``key``; returns the seconds to wait before using it.

        Tokens refill at ``rate`` per second up to ``burst``. A caller that finds
        none reserves the next one and waits, so concurrent senders queue up
        instead of retrying in a herd: below zero, the bucket holds only the
        reservations of senders waiting in line. A wait longer than ``max_wait``
        takes nothing (the reservation is given back in the same transaction,
        PITFALLS 33): the caller gets that wait and comes back later.
        """
        with self.engine.begin() as connection:
            return self.reserve_in(connection, key, rate, burst, max_wait)

    async def areserve(
        self, key: str, rate: float, burst: float = 1.0, *, max_wait: float = math.inf
    ) -> float:
        """:meth:`reserve`, group-committed with other concurrent writes."""
        return await self._group.run(lambda c: self.reserve_in(c, key, rate, burst, max_wait))

    async def alease(
        self, key: str, rate: float, burst: float, count: int, *, max_wait: float = math.inf
    ) -> list[float]:
        """Take up to ``count`` tokens for ``key`` in one statement (group-committed): the wait
        before each, in order, as ``count`` reservations in a row would get them.

        The tokens that would wait longer than ``max_wait`` are given back in the same
        transaction (PITFALLS 33); when even the first would, all are, and the one wait
        returned is longer than ``max_wait``.
        """
        return await self._group.run(lambda c: self.lease_in(c, key, rate, burst, count, max_wait))

    def lease_in(
        self,
        connection: Connection,
        key: str,
        rate: float,
        burst: float,
        count: int,
        max_wait: float = math.inf,
    ) -> list[float]:
        """:meth:`alease` on ``connection``."""
        ((left,),) = _compiled.execute(
            connection,
            _LEASE(connection),
            {"key": key, "now": time.time(), "rate": rate, "burst": burst, "take": count},
        )
        left = float(left)
        # token j of the block leaves the bucket at ``left + count - j``
        waits = [max(0.0, -(left + count - j) / rate) for j in range(1, count + 1)]
        kept = [wait for wait in waits if wait <= max_wait]
        if len(kept) < count:
            _compiled.execute(
                connection, _GIVE_BACK, {"bucket": key, "count": float(count - len(kept))}
            )
        return kept or waits[:1]

    def reserve_in(
        self,
        connection: Connection,
        key: str,
        rate: float,
        burst: float,
        max_wait: float = math.inf,
    ) -> float:
        """One atomic ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on ``connection``,
        and the refund of a reservation that would wait longer than ``max_wait``."""
        ((tokens,),) = _compiled.execute(
            connection,
            _RESERVE(connection),
            {"key": key, "now": time.time(), "rate": rate, "burst": burst},
        )
        wait = max(0.0, -float(tokens) / rate)
        if wait > max_wait:
            _compiled.execute(connection, _REFUND, {"bucket": key})
        return wait
