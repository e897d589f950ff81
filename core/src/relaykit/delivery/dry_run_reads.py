"""A read-only snapshot of what the planner reads, for a dry run of a whole broadcast.

Loaded with one ``SELECT`` per registry for the tenant (its opt-outs; its
usage counters for a month, when a rule first asks), so planning a million
recipients asks the database nothing per recipient. Nothing is ever written:
what the run's earlier recipients would use of a monthly limit is counted
here, in memory (:meth:`DryRunReads.use`), the way an accepted send counts it
in the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import select

from relaykit.store import Store
from relaykit.store.engine import reader
from relaykit.store.tables import optouts, sender_assignments, usage_counters

__all__ = ["DryRunReads"]


class _OptOuts:
    def __init__(self, store: Store, tenant: str) -> None:
        with reader(store.engine).connect() as connection:
            rows = connection.execute(
                select(optouts.c.channel, optouts.c.address).where(
                    optouts.c.tenant == tenant, optouts.c.opted_out.is_(True)
                )
            ).all()
        self.tenant = tenant
        self._opted_out = frozenset((str(row.channel), str(row.address)) for row in rows)

    def opted_out(self, tenant: str, channel: str, addresses: Sequence[str]) -> frozenset[str]:
        assert tenant == self.tenant, "a dry run plans one tenant"
        if not self._opted_out:
            return frozenset()
        return frozenset(a for a in addresses if (channel, a) in self._opted_out)


class _Usage:
    def __init__(self, store: Store, tenant: str) -> None:
        self.store = store
        self.tenant = tenant
        self._counts: dict[str, Counter[str]] = {}

    def _month(self, month: str) -> Counter[str]:
        counts = self._counts.get(month)
        if counts is None:
            with reader(self.store.engine).connect() as connection:
                rows = connection.execute(
                    select(usage_counters.c.channel, usage_counters.c.count).where(
                        usage_counters.c.tenant == self.tenant, usage_counters.c.month == month
                    )
                ).all()
            counts = self._counts[month] = Counter({str(r[0]): int(r[1]) for r in rows})
        return counts

    def count(self, tenant: str, month: str, channel: str) -> int:
        assert tenant == self.tenant, "a dry run plans one tenant"
        return self._month(month)[channel]

    def use(self, month: str, channel: str) -> None:
        self._month(month)[channel] += 1


class _Senders:
    """Pool numbers as they stand, and as this run would hand them out (nothing stored)."""

    def __init__(self, store: Store, tenant: str) -> None:
        self.store = store
        self.tenant = tenant
        self._held: dict[str, str] | None = None

    def assign(
        self, tenant: str, staff_user: str, pool: Sequence[str], *, staff_email: str | None = None
    ) -> str | None:
        if self._held is None:
            with reader(self.store.engine).connect() as connection:
                rows = connection.execute(
                    select(sender_assignments.c.staff_user, sender_assignments.c.number).where(
                        sender_assignments.c.tenant == self.tenant
                    )
                ).all()
            self._held = {str(r.staff_user): str(r.number) for r in rows}
        held = self._held.get(staff_user)
        if held is not None:
            return held
        taken = set(self._held.values())
        free = next((number for number in pool if number not in taken), None)
        if free is not None:
            self._held[staff_user] = free
        return free


class DryRunReads:
    """The planner's reads for one tenant, from a snapshot taken once (a
    :class:`~relaykit.delivery.reads.PlanningReads`)."""

    def __init__(self, store: Store, tenant: str) -> None:
        self._optouts = _OptOuts(store, tenant)
        self._usage = _Usage(store, tenant)
        self._senders = _Senders(store, tenant)

    @property
    def optouts(self) -> _OptOuts:
        return self._optouts

    @property
    def usage(self) -> _Usage:
        return self._usage

    @property
    def senders(self) -> _Senders:
        return self._senders

    def use(self, month: str, channel: str) -> None:
        """Count one message the run would send on ``channel`` in ``month``."""
        self._usage.use(month, channel)
