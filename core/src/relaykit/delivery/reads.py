"""What the planner reads from the store, as protocols: the store itself, or a snapshot.

The planner's skip rules ask three registries: opt-outs, monthly usage and the
staff sender pool. A real send asks the :class:`~relaykit.store.Store`; a dry
run hands the same rules a :class:`~relaykit.delivery.dry_run_reads.DryRunReads`
loaded once per broadcast, so each decision stays in its one rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["OptOutReads", "PlanningReads", "SenderReads", "UsageReads"]


class OptOutReads(Protocol):
    def opted_out(self, tenant: str, channel: str, addresses: Sequence[str]) -> frozenset[str]:
        """The subset of ``addresses`` (normalised) opted out of ``channel``."""
        ...


class UsageReads(Protocol):
    def count(self, tenant: str, month: str, channel: str) -> int:
        """Messages accepted on ``channel`` in ``month`` (``2026-11``)."""
        ...


class SenderReads(Protocol):
    def assign(
        self, tenant: str, staff_user: str, pool: Sequence[str], *, staff_email: str | None = None
    ) -> str | None:
        """The staff user's pool number; ``None`` when the pool is used up."""
        ...


class PlanningReads(Protocol):
    """The registries the planner reads (a :class:`~relaykit.store.Store` is one)."""

    @property
    def optouts(self) -> OptOutReads: ...

    @property
    def usage(self) -> UsageReads: ...

    @property
    def senders(self) -> SenderReads: ...
