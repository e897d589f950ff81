"""Writing deliveries: the store's one façade over the outbox and the outcomes."""

from __future__ import annotations

from relaykit.store.outbox import Outbox
from relaykit.store.outcomes import Outcomes

__all__ = ["Deliveries"]


class Deliveries(Outbox, Outcomes):
    """Writes of notifications, messages, attempts and statuses (reads: :class:`DeliveryReads`):
    creating and claiming in :class:`~relaykit.store.outbox.Outbox`, what outcomes commit in
    :class:`~relaykit.store.outcomes.Outcomes`."""
