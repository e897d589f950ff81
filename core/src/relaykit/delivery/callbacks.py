"""Applying verified provider callbacks: statuses, opt-outs and opt-ins, inbound replies.

Every event with a ``dedupe_key`` is applied once: a replayed webhook - Twilio
signatures carry no timestamp (PITFALLS 8) - changes nothing, so a captured
STOP cannot flip consent back after a START.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from relaykit.delivery.dispatcher import Dispatcher, utcnow
from relaykit.delivery.reasons import FallbackReason
from relaykit.logs import get_logger
from relaykit.policy import RouteStep
from relaykit.recipients import Recipient, phone_numbers
from relaykit.results import (
    CallbackOutcome,
    Channel,
    ConsentChange,
    InboundMessage,
    MessageStatus,
    StatusUpdate,
)
from relaykit.settings import TenantSettings
from relaykit.store import Store

__all__ = ["OPT_OUT_CODES", "STAFF_REPLY_EVENT", "CallbackApplier"]

log = get_logger("relaykit.callbacks")

#: Provider error codes that mean "this recipient unsubscribed" when a status callback of a
#: message relaykit sent reports them; the one place a status callback changes consent (about
#: an unknown message, it changes nothing).
OPT_OUT_CODES = frozenset({"21610"})
STAFF_REPLY_EVENT = "staff_reply"

#: ``notify_one(tenant, event, recipient, data, step)``: send a notification over one step.
NotifyOne = Callable[[str, str, Recipient, Mapping[str, Any], RouteStep], Awaitable[object]]


class CallbackApplier:
    """Turns callback events into store changes, and failures into fallbacks."""

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        tenant: Callable[[str], TenantSettings],
        notify_one: NotifyOne,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self._tenant = tenant
        self._notify_one = notify_one

    async def apply(self, tenant: str, instance: str, outcome: CallbackOutcome) -> list[str]:
        """Apply each event once; returns messages a fallback made pending."""
        pending: list[str] = []
        for event in outcome.events:
            # The key is recorded in the transaction that applies the event: a replay
            # changes nothing, and an event that failed to apply is applied on retry.
            key = f"{tenant}/{instance}:{event.dedupe_key}" if event.dedupe_key else None
            if isinstance(event, StatusUpdate):
                pending += self._status(tenant, instance, event, key)
            elif isinstance(event, ConsentChange):
                self._consent(tenant, event, key)
            elif isinstance(event, InboundMessage):
                await self._inbound(tenant, instance, event, key)
        return pending

    def _status(
        self, tenant: str, instance: str, update: StatusUpdate, key: str | None
    ) -> list[str]:
        message, changed = self.store.deliveries.apply_status(
            tenant,
            instance,
            update.provider_message_id,
            update.status,
            error_code=update.error_code,
            detail=update.error_message,
            reference=update.reference,
            dedupe_key=key,
        )
        if message is None:
            log.info(
                "status_ignored",
                reason="replay or unknown message",
                tenant=tenant,
                sid=update.provider_message_id,
            )
            return []
        if not changed:
            log.info(
                "status_not_applied",
                message=message.id,
                status=update.status.value,
                current=message.status,
            )
            return []
        if update.status not in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
            return []
        reason = FallbackReason.UNDELIVERED
        if update.error_code in OPT_OUT_CODES:
            self.dispatcher.opt_out_recipient(message, source=f"provider:{update.error_code}")
            reason = FallbackReason.OPTED_OUT
        if not self.store.deliveries.mark_fallen_back(message.id, reason.value):
            return []
        return self.dispatcher.advance(message)

    def _consent(self, tenant: str, change: ConsentChange, key: str | None) -> None:
        channel = change.channel.value
        if change.action == "opt_in":
            # An opt-in re-enables only the number it came from.
            self.store.optouts.set(
                tenant,
                channel,
                [change.address],
                opted_out=False,
                source=change.keyword or "opt_in",
                dedupe_key=key,
            )
            return
        snapshot = self.store.deliveries.recipient_by_address(tenant, change.address)
        addresses = {change.address}
        recipient_id = None
        if snapshot is not None:
            person = Recipient.model_validate(snapshot)
            recipient_id = person.id
            addresses |= set(phone_numbers(person, self._tenant(tenant).sms.default_region))
        self.store.optouts.set(
            tenant,
            channel,
            sorted(addresses),
            opted_out=True,
            source=change.keyword or "opt_out",
            recipient_id=recipient_id,
            dedupe_key=key,
        )

    async def _inbound(
        self, tenant: str, instance: str, inbound: InboundMessage, key: str | None
    ) -> None:
        holder = self.store.senders.holder(tenant, inbound.recipient)
        stored = self.store.inbound.record(
            dedupe_key=key,
            tenant=tenant,
            instance=instance,
            provider_message_id=inbound.provider_message_id,
            channel=inbound.channel.value,
            sender=inbound.sender,
            recipient=inbound.recipient,
            body=inbound.body,
            media_urls=list(inbound.media_urls),
            staff_user=holder.staff_user if holder else None,
        )
        settings = self._tenant(tenant)
        notify_instance = settings.two_way.notify_instance
        if stored is None or holder is None or not holder.staff_email or notify_instance is None:
            return
        staff = Recipient(id=holder.staff_user, kind="staff", email=holder.staff_email)
        received = utcnow().astimezone(ZoneInfo(settings.time_zone))
        data = {
            "staff_name": holder.staff_user,
            "reply_from": inbound.sender,
            "reply_body": inbound.body,
            "institution_name": settings.display_name or tenant,
            "received_at": received.strftime("%d %b %Y, %H:%M"),
        }
        step = RouteStep(channel=Channel.EMAIL, instance=notify_instance)
        await self._notify_one(tenant, STAFF_REPLY_EVENT, staff, data, step)
