"""``Relay``: the Python API workflow engines call - notify, look up, apply callbacks.

One notification walks its tenant's route for the event: steps that cannot be
used are recorded as skipped with their reason; the first usable step is
committed ``pending`` (with the idempotency key) before the provider is
called; a permanent failure, an opt-out, rejected credentials, exhausted
retries, a later ``undelivered``/``failed`` callback or a missed delivery
deadline moves it to the next step - once per message.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from relaykit.connectors import SupportsReconcile
from relaykit.delivery.health import InstanceHealth
from relaykit.delivery.planner import Plan, Planner, month_of
from relaykit.delivery.reasons import FallbackReason
from relaykit.errors import (
    AmbiguousSendError,
    AuthenticationError,
    ConfigError,
    ConnectorError,
    OptOutError,
    PermanentSendError,
    RateLimitedError,
    RelaykitError,
    TransientSendError,
)
from relaykit.host import ConnectorHost
from relaykit.plugins import PluginHost
from relaykit.policy import RouteStep
from relaykit.recipients import Recipient, StaffUser, phone_numbers
from relaykit.results import (
    CallbackOutcome,
    CallbackRequest,
    Channel,
    ConsentChange,
    InboundMessage,
    MessageStatus,
    OutboundMessage,
    SendReceipt,
    StatusUpdate,
)
from relaykit.settings import TenantSettings
from relaykit.store import DeliveryRecord, MessageRecord, Store
from relaykit.templates import TemplateCatalog

__all__ = ["NotPermittedError", "Relay", "RetryPolicy"]

log = structlog.get_logger("relaykit.relay")

#: Provider error codes that mean "this recipient unsubscribed" when a callback reports them.
OPT_OUT_CODES = frozenset({"21610"})
STAFF_REPLY_EVENT = "staff_reply"


class NotPermittedError(RelaykitError):
    """The staff user may not send (their role is not permitted, or they are not staff)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures: exponential backoff with full jitter, ``Retry-After`` honoured.

    :ivar max_attempts: provider calls per message before falling back.
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class Relay:
    """Notifications in, messages out; the store remembers everything.

    Build it with :meth:`from_config`. ``notify`` and the other sync methods
    run on a private event loop; from async code use ``anotify`` and friends.
    """

    def __init__(
        self,
        host: ConnectorHost,
        store: Store,
        templates: TemplateCatalog | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.host = host
        self.store = store
        self.templates = templates or TemplateCatalog(store.templates)
        self.retry = retry or RetryPolicy()
        self.health = InstanceHealth()
        self.planner = Planner(store, self.templates, self.health)
        self._runner: asyncio.Runner | None = None

    @classmethod
    def from_config(
        cls,
        config_path: Path | str | None = None,
        *,
        plugins: PluginHost | None = None,
        retry: RetryPolicy | None = None,
        **overrides: Any,
    ) -> Relay:
        """Settings, plugins, instances and the store (migrated), from ``relaykit.toml`` and env.

        :raises ConfigError: for any bad setting, naming tenant, instance and field.
        """
        host = ConnectorHost.from_config(config_path, plugins=plugins, **overrides)
        settings = host.settings
        store = Store.open(settings.database_url, data_dir=settings.data_dir)
        return cls(host, store, retry=retry)

    # -- notify ---------------------------------------------------------------------------------

    async def anotify(
        self,
        tenant: str,
        event: str,
        recipient: Recipient | Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        *,
        staff: StaffUser | Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> DeliveryRecord:
        """Send ``event`` to ``recipient`` over the tenant's route; returns the delivery record.

        The same ``idempotency_key`` (per tenant) never sends twice: the second
        call returns the first delivery with ``duplicate=True``.

        :raises ConfigError: unknown tenant, or no route for the event.
        :raises NotPermittedError: ``staff`` may not send.
        :raises TemplateError: ``data`` lacks a variable the event's templates need.
        """
        tenant_settings = self._tenant(tenant)
        person = (
            recipient if isinstance(recipient, Recipient) else Recipient.model_validate(recipient)
        )
        sender = self._permitted(tenant_settings, staff)
        if idempotency_key is not None:
            existing = self.store.deliveries.find_by_key(tenant, idempotency_key)
            if existing is not None:
                return self._record(existing, duplicate=True)
        route = tenant_settings.route_for(event)
        if route is None:
            raise ConfigError(
                f"tenant {tenant!r} has no route for event {event!r} and no default route; "
                f"add [tenants.{tenant}.routes.{event}] or [tenants.{tenant}.routes.default]"
            )
        self.templates.event(event)  # unknown events fail before anything is stored
        plan = Plan(
            tenant_name=tenant,
            tenant=tenant_settings,
            event=event,
            recipient=person,
            data=dict(data or {}),
            staff=sender,
            steps=route.steps_for(person.kind),
            deadline_minutes=route.deadline_minutes,
        )
        planned = self.planner.plan(plan, 0, _now())
        notification_id, created = self.store.deliveries.create(
            tenant=tenant,
            event=event,
            recipient=person.model_dump(mode="json"),
            data=plan.data,
            staff=sender.model_dump(mode="json") if sender else None,
            idempotency_key=idempotency_key,
            planned=planned,
        )
        if not created:
            return self._record(notification_id, duplicate=True)
        record = self._record(notification_id)
        pending = [m for m in record.messages if m.status == "pending"]
        if pending:
            await self._deliver(pending[0].id)
        return self._record(notification_id)

    def notify(self, *args: Any, **kwargs: Any) -> DeliveryRecord:
        """The synchronous twin of :meth:`anotify`."""
        record: DeliveryRecord = self._run(self.anotify(*args, **kwargs))
        return record

    # -- lookups --------------------------------------------------------------------------------

    def delivery(self, notification_id: str) -> DeliveryRecord | None:
        return self.store.deliveries.get(notification_id)

    def delivery_by_key(self, tenant: str, idempotency_key: str) -> DeliveryRecord | None:
        found = self.store.deliveries.find_by_key(tenant, idempotency_key)
        return self.store.deliveries.get(found) if found else None

    # -- sending one message --------------------------------------------------------------------

    async def _deliver(self, message_id: str) -> None:
        message = self.store.deliveries.message(message_id)
        assert message is not None
        label = f"{message.tenant}/{message.instance}"
        outbound = OutboundMessage(
            channel=message.channel,
            to=message.to_address,
            body=message.body,
            reference=message.id,
            subject=message.subject,
            sender=message.sender,
            html_body=message.html_body,
        )
        started = _now()
        for _ in range(self.retry.max_attempts):
            attempt = self.store.deliveries.start_attempt(message_id)
            receipt: SendReceipt | None
            try:
                receipt = await self.host.send(label, outbound)
            except AmbiguousSendError as exc:
                receipt = await self._reconcile(label, outbound, started)
                if receipt is None:
                    if not self._schedule_retry(message, attempt, exc):
                        return await self._fall_back(message, FallbackReason.RETRIES_EXHAUSTED)
                    await asyncio.sleep(self.retry.delay(attempt))
                    continue
            except RateLimitedError as exc:
                if not self._schedule_retry(message, attempt, exc):
                    return await self._fall_back(message, FallbackReason.RETRIES_EXHAUSTED)
                await asyncio.sleep(self.retry.delay(attempt, exc.retry_after))
                continue
            except TransientSendError as exc:
                if not self._schedule_retry(message, attempt, exc):
                    return await self._fall_back(message, FallbackReason.RETRIES_EXHAUSTED)
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            except PermanentSendError as exc:
                reason = self._permanent_reason(message, label, exc)
                self._fail(message, attempt, exc, reason)
                return await self._advance(message)
            self._succeeded(message, attempt, receipt)
            return None
        return None

    def _schedule_retry(self, message: MessageRecord, attempt: int, exc: ConnectorError) -> bool:
        """Record a transient failure; False when no attempt is left (then it is final)."""
        last = attempt >= self.retry.max_attempts
        self.store.deliveries.finish_failed(
            message.id,
            attempt,
            error_kind=type(exc).__name__,
            error_code=exc.provider_code,
            error_message=str(exc),
            retry_at=None if last else _now() + timedelta(seconds=self.retry.base_delay),
            fallback_reason=FallbackReason.RETRIES_EXHAUSTED.value if last else None,
        )
        return not last

    async def _fall_back(self, message: MessageRecord, reason: FallbackReason) -> None:
        log.info("fallback", message=message.id, reason=reason.value)
        await self._advance(message)

    def _permanent_reason(
        self, message: MessageRecord, label: str, exc: PermanentSendError
    ) -> FallbackReason:
        if isinstance(exc, OptOutError):
            self._opt_out_recipient(message, source=f"provider:{exc.provider_code or 'opt-out'}")
            return FallbackReason.OPTED_OUT
        if isinstance(exc, AuthenticationError):
            self.health.mark_down(label, str(exc))
            return FallbackReason.NOT_CONNECTED
        return FallbackReason.PROVIDER_ERROR

    def _fail(
        self, message: MessageRecord, attempt: int, exc: ConnectorError, reason: FallbackReason
    ) -> None:
        self.store.deliveries.finish_failed(
            message.id,
            attempt,
            error_kind=type(exc).__name__,
            error_code=exc.provider_code,
            error_message=str(exc),
            retry_at=None,
            fallback_reason=reason.value,
        )

    def _succeeded(self, message: MessageRecord, attempt: int, receipt: SendReceipt) -> None:
        usage = None
        if message.channel is Channel.SMS:
            tenant = self._tenant(message.tenant)
            usage = (message.tenant, month_of(_now(), tenant.time_zone), "sms")
        self.store.deliveries.finish_sent(
            message.id,
            attempt,
            provider_message_id=receipt.provider_message_id,
            status=receipt.status,
            to_address=receipt.to,
            segments=receipt.segments,
            encoding=receipt.encoding,
            usage=usage,
        )

    async def _reconcile(
        self, label: str, outbound: OutboundMessage, since: datetime
    ) -> SendReceipt | None:
        """After an ambiguous failure, ask the provider whether the message went out."""
        connector = self.host.connector(label)
        if not isinstance(connector, SupportsReconcile):
            return None
        try:
            return await connector.find_sent(outbound.to, outbound.reference, since)
        except ConnectorError:
            return None

    # -- moving on ------------------------------------------------------------------------------

    async def _advance(self, failed: MessageRecord) -> None:
        """Plan and send the steps after ``failed``'s step."""
        notification = self.store.deliveries.notification_row(failed.notification_id)
        tenant = self._tenant(notification.tenant)
        recipient = Recipient.model_validate(notification.recipient)
        route = tenant.route_for(notification.event)
        if route is None:
            return
        plan = Plan(
            tenant_name=notification.tenant,
            tenant=tenant,
            event=notification.event,
            recipient=recipient,
            data=notification.data,
            staff=StaffUser.model_validate(notification.staff) if notification.staff else None,
            steps=route.steps_for(recipient.kind),
            deadline_minutes=route.deadline_minutes,
        )
        planned = self.planner.plan(plan, failed.step + 1, _now())
        ids = self.store.deliveries.add_messages(failed.notification_id, planned)
        pending = [mid for mid, m in zip(ids, planned, strict=True) if m.status == "pending"]
        if pending:
            await self._deliver(pending[0])

    async def sweep_deadlines(self, now: datetime | None = None) -> int:
        """Move every message past its delivery deadline to its next step; returns how many."""
        moved = 0
        for message_id in self.store.deliveries.past_deadline(now or _now()):
            message = self.store.deliveries.message(message_id)
            if message and self.store.deliveries.mark_fallen_back(
                message_id, FallbackReason.DEADLINE
            ):
                moved += 1
                await self._advance(message)
        return moved

    # -- callbacks ------------------------------------------------------------------------------

    async def handle_webhook(
        self, tenant: str, instance: str, request: CallbackRequest
    ) -> CallbackOutcome:
        """Verify a provider's webhook with the instance's connector and apply what it says.

        :raises CallbackVerificationError: the request is forged; nothing changed.
        """
        outcome = await self.host.handle_callback(f"{tenant}/{instance}", request)
        await self.apply_callback(tenant, instance, outcome)
        return outcome

    async def apply_callback(self, tenant: str, instance: str, outcome: CallbackOutcome) -> None:
        """Apply verified callback events: statuses, opt-outs/ins, inbound messages.

        A replayed event (same ``dedupe_key``) changes nothing.
        """
        for event in outcome.events:
            if event.dedupe_key and not self.store.deliveries.first_time(
                f"{tenant}/{instance}:{event.dedupe_key}"
            ):
                log.info("callback_replay_ignored", tenant=tenant, instance=instance)
                continue
            if isinstance(event, StatusUpdate):
                await self._status(tenant, instance, event)
            elif isinstance(event, ConsentChange):
                self._consent(tenant, event)
            elif isinstance(event, InboundMessage):
                await self._inbound(tenant, instance, event)

    async def _status(self, tenant: str, instance: str, update: StatusUpdate) -> None:
        message, changed = self.store.deliveries.apply_status(
            tenant,
            instance,
            update.provider_message_id,
            update.status,
            error_code=update.error_code,
            detail=update.error_message,
        )
        if message is None:
            log.warning("status_for_unknown_message", tenant=tenant, sid=update.provider_message_id)
            return
        if not changed:
            log.info(
                "status_not_applied",
                message=message.id,
                status=update.status.value,
                current=message.status,
            )
            return
        if update.status in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
            reason = FallbackReason.UNDELIVERED
            if update.error_code in OPT_OUT_CODES:
                self._opt_out_recipient(message, source=f"provider:{update.error_code}")
                reason = FallbackReason.OPTED_OUT
            if self.store.deliveries.mark_fallen_back(message.id, reason.value):
                await self._advance(message)

    def _consent(self, tenant: str, change: ConsentChange) -> None:
        channel = change.channel.value
        if change.action == "opt_in":
            self.store.optouts.set(
                tenant,
                channel,
                [change.address],
                opted_out=False,
                source=change.keyword or "opt_in",
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
        )

    def _opt_out_recipient(self, message: MessageRecord, *, source: str) -> None:
        _, snapshot, _ = self.store.deliveries.notification_of(message.id)
        person = Recipient.model_validate(snapshot)
        numbers = set(phone_numbers(person, self._tenant(message.tenant).sms.default_region))
        numbers.add(message.to_address)
        self.store.optouts.set(
            message.tenant,
            message.channel.value,
            sorted(numbers),
            opted_out=True,
            source=source,
            recipient_id=person.id,
        )

    async def _inbound(self, tenant: str, instance: str, inbound: InboundMessage) -> None:
        holder = self.store.senders.holder(tenant, inbound.recipient)
        stored = self.store.inbound.record(
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
        if stored is None or holder is None or not holder.staff_email:
            return
        settings = self._tenant(tenant)
        if settings.two_way.notify_instance is None:
            return
        staff = Recipient(id=holder.staff_user, kind="staff", email=holder.staff_email)
        received = _now().astimezone(ZoneInfo(settings.time_zone))
        data = {
            "staff_name": holder.staff_user,
            "reply_from": inbound.sender,
            "reply_body": inbound.body,
            "institution_name": settings.display_name or tenant,
            "received_at": received.strftime("%d %b %Y, %H:%M"),
        }
        step = RouteStep(channel=Channel.EMAIL, instance=settings.two_way.notify_instance)
        await self._notify_on(tenant, STAFF_REPLY_EVENT, staff, data, step)

    async def _notify_on(
        self,
        tenant: str,
        event: str,
        recipient: Recipient,
        data: Mapping[str, Any],
        step: RouteStep,
    ) -> DeliveryRecord:
        plan = Plan(
            tenant_name=tenant,
            tenant=self._tenant(tenant),
            event=event,
            recipient=recipient,
            data=dict(data),
            staff=None,
            steps=(step,),
        )
        planned = self.planner.plan(plan, 0, _now())
        notification_id, _ = self.store.deliveries.create(
            tenant=tenant,
            event=event,
            recipient=recipient.model_dump(mode="json"),
            data=plan.data,
            staff=None,
            idempotency_key=None,
            planned=planned,
        )
        record = self._record(notification_id)
        for message in record.messages:
            if message.status == "pending":
                await self._deliver(message.id)
        return self._record(notification_id)

    # -- plumbing -------------------------------------------------------------------------------

    def _tenant(self, name: str) -> TenantSettings:
        try:
            return self.host.settings.tenants[name]
        except KeyError:
            known = ", ".join(sorted(self.host.settings.tenants)) or "none"
            raise ConfigError(f"unknown tenant {name!r} (configured: {known})") from None

    def _permitted(
        self, tenant: TenantSettings, staff: StaffUser | Mapping[str, Any] | None
    ) -> StaffUser | None:
        if staff is None:
            return None
        user = staff if isinstance(staff, StaffUser) else StaffUser.model_validate(staff)
        if user.kind != "staff":
            raise NotPermittedError(f"{user.id} is a {user.kind}, not staff: only staff may send")
        if user.role not in tenant.two_way.permitted_roles:
            allowed = ", ".join(tenant.two_way.permitted_roles) or "none"
            raise NotPermittedError(
                f"staff user {user.id} has role {user.role!r}, which may not send "
                f"(permitted: {allowed})"
            )
        return user

    def _record(self, notification_id: str, *, duplicate: bool = False) -> DeliveryRecord:
        record = self.store.deliveries.get(notification_id, duplicate=duplicate)
        assert record is not None
        return record

    def _run(self, coroutine: Any) -> Any:
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(coroutine)

    async def aclose(self) -> None:
        await self.host.aclose()
        self.store.close()

    def close(self) -> None:
        """Close connectors, the store and the private event loop."""
        if self._runner is None:
            asyncio.run(self.aclose())
            return
        self._runner.run(self.aclose())
        self._runner.close()
        self._runner = None


def _now() -> datetime:
    return datetime.now(UTC)
