"""Consent changes: an opt-out disables every number of the person; an opt-in one number.

The one place that writes the opt-out registry for delivery: an inbound
STOP/START, a 21610 status callback and a send refused with an opt-out
error all come here. An opt-out also returns the person's messages on that
channel still queued (not yet handed to the provider): the caller withdraws
them through the router, so they are never sent and their notification moves
on with the reason ``opted_out``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaykit.recipients import Recipient, phone_numbers
from relaykit.results import Channel, ConsentChange
from relaykit.settings import RelaykitSettings
from relaykit.store import MessageRecord, Store

__all__ = ["Consent"]


class Consent:
    """Opt-outs and opt-ins in the store, fanned out over a person's numbers."""

    def __init__(self, store: Store, settings: RelaykitSettings) -> None:
        self.store = store
        self.settings = settings

    async def apply(
        self, tenant: str, change: ConsentChange, *, dedupe_key: str | None = None
    ) -> list[MessageRecord]:
        """An inbound keyword: an opt-in (START) re-enables only the number it came from; an
        opt-out (STOP) disables every number of the person we last sent to there, when we
        know them, else that number alone.

        :returns: for an opt-out, the messages still queued to the numbers it disabled
            (none for a replay, whose ``dedupe_key`` was seen before).
        """
        if change.action == "opt_in":
            await self.store.optouts.aset(
                tenant,
                change.channel.value,
                [change.address],
                opted_out=False,
                source=change.keyword or "opt_in",
                dedupe_key=dedupe_key,
            )
            return []
        snapshot = self.store.deliveries.recipient_by_address(tenant, change.address)
        source = change.keyword or "opt_out"
        return await self._opt_out_person(
            tenant, change.channel, change.address, snapshot, source, dedupe_key
        )

    async def opt_out_recipient(
        self, message: MessageRecord, *, source: str
    ) -> list[MessageRecord]:
        """An opt-out reported for a message we sent (a 21610): every number of its recipient.

        :returns: the recipient's other messages still queued to those numbers.
        """
        _, snapshot, _ = self.store.deliveries.notification_of(message.id)
        return await self._opt_out_person(
            message.tenant, message.channel, message.to_address, snapshot, source
        )

    async def _opt_out_person(
        self,
        tenant: str,
        channel: Channel,
        address: str,
        snapshot: Mapping[str, Any] | None,
        source: str,
        dedupe_key: str | None = None,
    ) -> list[MessageRecord]:
        addresses = {address}
        recipient_id = None
        if snapshot is not None:
            person = Recipient.model_validate(snapshot)
            recipient_id = person.id
            region = self.settings.tenant(tenant).sms.default_region
            addresses |= set(phone_numbers(person, region))
        changed = await self.store.optouts.aset(
            tenant,
            channel.value,
            sorted(addresses),
            opted_out=True,
            source=source,
            recipient_id=recipient_id,
            dedupe_key=dedupe_key,
        )
        return self.store.deliveries.queued_to(tenant, channel.value, addresses) if changed else []
