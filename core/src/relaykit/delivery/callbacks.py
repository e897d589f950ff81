"""Applying verified provider callbacks: statuses, opt-outs and opt-ins, inbound replies.

Every event with a ``dedupe_key`` is applied once: a replayed webhook - Twilio
signatures carry no timestamp (PITFALLS 8) - changes nothing, so a captured
STOP cannot flip consent back after a START.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from relaykit.delivery.consent import Consent
from relaykit.delivery.planner import STAFF_REPLY_EVENT, Plan
from relaykit.delivery.reasons import FallbackReason
from relaykit.delivery.router import Router
from relaykit.delivery.session_window import closed_window
from relaykit.logs import get_logger
from relaykit.recipients import Recipient
from relaykit.results import (
    CallbackOutcome,
    ConsentChange,
    InboundMessage,
    MessageStatus,
    StatusUpdate,
)
from relaykit.settings import RelaykitSettings
from relaykit.store import MessageRecord, StatusReport, Store

__all__ = ["OPT_OUT_CODES", "STAFF_REPLY_EVENT", "Applied", "CallbackApplier"]

log = get_logger("relaykit.callbacks")

#: Provider error codes that mean "this recipient unsubscribed" when a status callback of a
#: message relaykit sent reports them; the one place a status callback changes consent (about
#: an unknown message, it changes nothing).
OPT_OUT_CODES = frozenset({"21610"})


@dataclass
class Applied:
    """What applying callbacks leaves the caller to do.

    :ivar pending: messages a fallback made pending, to send.
    :ivar notify: notifications to start (a staff user told of a reply, by email).
    """

    pending: list[str] = field(default_factory=list)
    notify: list[Plan] = field(default_factory=list)


class CallbackApplier:
    """Turns callback events into store changes, and failures into fallbacks."""

    def __init__(
        self, store: Store, router: Router, consent: Consent, settings: RelaykitSettings
    ) -> None:
        self.store = store
        self.router = router
        self.consent = consent
        self.settings = settings

    async def apply(self, tenant: str, instance: str, outcome: CallbackOutcome) -> Applied:
        """Apply each event once; returns what the caller sends or starts next."""
        applied = Applied()
        for event in outcome.events:
            # The key is recorded in the transaction that applies the event: a replay
            # changes nothing, and an event that failed to apply is applied on retry.
            key = f"{tenant}/{instance}:{event.dedupe_key}" if event.dedupe_key else None
            if isinstance(event, StatusUpdate):
                applied.pending += await self._status(tenant, instance, event, key)
            elif isinstance(event, ConsentChange):
                queued = await self.consent.apply(tenant, event, dedupe_key=key)
                applied.pending += await self.router.withdraw(queued, FallbackReason.OPTED_OUT)
            elif isinstance(event, InboundMessage):
                applied.notify += await self._inbound(tenant, instance, event, key)
        return applied

    async def _status(
        self, tenant: str, instance: str, update: StatusUpdate, key: str | None
    ) -> list[str]:
        result = await self.store.statuses.apply(
            StatusReport(
                tenant,
                instance,
                update.provider_message_id,
                update.status,
                error_code=update.error_code,
                detail=update.error_message,
                reference=update.reference,
                dedupe_key=key,
            )
        )
        if result.message_id is None:
            log.info(
                "status_ignored",
                reason="replay or unknown message",
                tenant=tenant,
                sid=update.provider_message_id,
            )
            return []
        if not result.applied:
            log.info(
                "status_not_applied",
                message=result.message_id,
                status=update.status.value,
                current=result.current,
            )
            return []
        if update.status not in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
            return []
        # only a failure reads its message back: the router plans from it
        message = self.store.deliveries.message(result.message_id, timeline=False)
        if message is None:
            return []
        reason = FallbackReason.UNDELIVERED
        queued: list[MessageRecord] = []
        if update.error_code in OPT_OUT_CODES:
            source = f"provider:{update.error_code}"
            queued = await self.consent.opt_out_recipient(message, source=source)
            reason = FallbackReason.OPTED_OUT
        elif closed_window(update.error_code):
            reason = FallbackReason.OUTSIDE_SESSION_WINDOW
        pending = await self.router.move_on(message, reason) or []
        return pending + await self.router.withdraw(queued, FallbackReason.OPTED_OUT)

    async def _inbound(
        self, tenant: str, instance: str, inbound: InboundMessage, key: str | None
    ) -> list[Plan]:
        """Record a reply; a reply to a staff user's pool number is theirs to hear of."""
        holder = self.store.senders.holder(tenant, inbound.recipient)
        stored = await self.store.inbound.arecord(
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
        settings = self.settings.tenant(tenant)
        notify_instance = settings.two_way.notify_instance
        if stored is None or holder is None or not holder.staff_email or notify_instance is None:
            return []
        staff = Recipient(id=holder.staff_user, kind="staff", email=holder.staff_email)
        received = datetime.now(UTC).astimezone(ZoneInfo(settings.time_zone))
        data = {
            "staff_name": holder.staff_user,
            "reply_from": inbound.sender,
            "reply_body": inbound.body,
            "institution_name": settings.display_name or tenant,
            "received_at": received.strftime("%d %b %Y, %H:%M"),
        }
        return [Plan.build(tenant, settings, STAFF_REPLY_EVENT, staff, data)]
