"""One provider attempt of a claimed message: the call, its outcome, and what comes next.

An attempt runs on a message already claimed (``submitting``, its attempt
committed in flight) and commits its outcome after the call (PITFALLS 21: no
lock or transaction is held across the call); a final failure is committed
with the move to the next step. Claiming is atomic, so an attempt runs once
per claim. Batches of attempts are :class:`~relaykit.delivery.unit.DeliverMessages`'.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from relaykit.connectors import SupportsReconcile
from relaykit.delivery.batch import Accepted, AttemptResult, Deferred, MovedOn, Retry, Unknown
from relaykit.delivery.consent import Consent
from relaykit.delivery.health import InstanceHealth
from relaykit.delivery.planner import month_of
from relaykit.delivery.reasons import FallbackReason
from relaykit.delivery.router import Router
from relaykit.delivery.session_window import closed_window
from relaykit.errors import (
    AmbiguousSendError,
    AuthenticationError,
    ConnectorError,
    OptOutError,
    PacedError,
    PermanentSendError,
    RateLimitedError,
    TransientSendError,
)
from relaykit.host import ConnectorHost
from relaykit.logs import get_logger
from relaykit.results import Channel, OutboundMessage, SendReceipt
from relaykit.settings import (
    CUSTOM_CHANNEL_RETRY_FOR_SECONDS,
    DEFAULT_RETRY_FOR_SECONDS,
    DeliverySettings,
)
from relaykit.store import (
    AcceptedAttempt,
    Claimed,
    FailedAttempt,
    MessageRecord,
    StatusChange,
    Store,
)
from relaykit.store.states import StatusSource

__all__ = ["Dispatcher", "RetryPolicy", "utcnow"]

log = get_logger("relaykit.dispatch")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures: exponential backoff with full jitter, ``Retry-After`` honoured,
    for a time budget per channel (``[delivery]`` settings, same defaults).

    :ivar max_attempts: an optional cap on provider calls per message.
    :ivar retry_for: per channel, seconds after the first transient failure during
        which the message is still retried; then it falls back (``retries_exhausted``).
    :ivar inline_wait: the inline path (``notify``) waits for retries this long at
        most; a later retry stays in the database for ``relaykit worker`` or ``serve``.
    """

    max_attempts: int | None = None
    base_delay: float = 0.5
    max_delay: float = 300.0
    retry_for: Mapping[Channel, float] = field(
        default_factory=lambda: dict(DEFAULT_RETRY_FOR_SECONDS)
    )
    inline_wait: float = 30.0

    @classmethod
    def from_settings(cls, delivery: DeliverySettings) -> RetryPolicy:
        return cls(
            max_attempts=delivery.max_attempts,
            base_delay=delivery.base_delay_seconds,
            max_delay=delivery.max_delay_seconds,
            retry_for=delivery.retry_for_seconds,
        )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt``."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def exhausted(
        self, channel: Channel, attempt: int, failing_since: datetime, retry_at: datetime
    ) -> bool:
        """Whether attempt ``attempt`` was the last: the cap is reached, or a retry at
        ``retry_at`` would fall outside the channel's budget counted from ``failing_since``."""
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return True
        return (retry_at - failing_since).total_seconds() > self.budget(channel)

    def budget(self, channel: Channel) -> float:
        """Seconds the channel's messages are retried (and a maybe-sent one is asked after)."""
        default = DEFAULT_RETRY_FOR_SECONDS.get(channel, CUSTOM_CHANNEL_RETRY_FOR_SECONDS)
        return self.retry_for.get(channel, default)


class Dispatcher:
    """Attempts, outcomes and fallbacks, shared by the inline path and the worker."""

    def __init__(
        self,
        host: ConnectorHost,
        store: Store,
        router: Router,
        consent: Consent,
        health: InstanceHealth,
        retry: RetryPolicy,
    ) -> None:
        self.host = host
        self.store = store
        self.router = router
        self.consent = consent
        self.health = health
        self.retry = retry
        self._tenant = host.settings.tenant
        self.stopping = False
        self._running = 0

    # -- stopping -------------------------------------------------------------------------------

    def stop_starting(self) -> None:
        """Start no more attempts in this process (a graceful stop).

        Attempts already running finish and commit their outcome; retries and
        next steps from then on stay committed for ``relaykit worker``.
        """
        self.stopping = True

    @property
    def running(self) -> int:
        """Attempts of this process between their claim and their committed outcome."""
        return self._running

    # -- one attempt ----------------------------------------------------------------------------

    async def attempt(self, claimed: Claimed) -> AttemptResult:
        """Call the provider once for a claimed message and commit the outcome.

        A final failure is committed with its move to the next step, in one
        transaction (:meth:`Router.move_on <relaykit.delivery.router.Router.move_on>`).
        """
        self._running += 1
        try:
            return await self._attempt(claimed.message, claimed.attempt)
        finally:
            self._running -= 1

    async def _attempt(self, message: MessageRecord, number: int) -> AttemptResult:
        label = f"{message.tenant}/{message.instance}"
        outbound = message.outbound()
        started = utcnow()
        try:
            receipt = await self.host.send(label, outbound)
        except AmbiguousSendError as exc:
            try:
                found = await self.reconcile(label, outbound, started - timedelta(seconds=5))
            except ConnectorError as lookup:
                # "Could not tell" is not "not sent": the attempt stays in flight, and
                # recovery asks again once it is stale (see recover).
                log.warning("send_outcome_unknown", message_id=message.id, error=str(lookup))
                return Unknown(message.id)
            if found is None:
                return await self._transient(message, number, exc)
            receipt = found
        except PacedError as exc:  # our own rate limit: a wait in line, not an attempt
            retry_at = utcnow() + timedelta(seconds=exc.retry_after or 0.0)
            await self.store.deliveries.adefer(message.id, number, retry_at=retry_at)
            return Deferred(message.id, retry_at)
        except RateLimitedError as exc:
            return await self._transient(message, number, exc, exc.retry_after)
        except TransientSendError as exc:
            return await self._transient(message, number, exc)
        except PermanentSendError as exc:
            reason, queued = await self._permanent_reason(message, label, exc)
            moved = await self._move_on(message, reason, _failure(message, number, exc, None))
            if not queued:
                return moved
            withdrawn = await self.router.withdraw(queued, FallbackReason.OPTED_OUT)
            return replace(moved, next_messages=(*moved.next_messages, *withdrawn))
        return Accepted(message.id, await self.succeeded(message, number, receipt))

    async def _transient(
        self,
        message: MessageRecord,
        number: int,
        exc: ConnectorError,
        retry_after: float | None = None,
    ) -> AttemptResult:
        now = utcnow()
        planned = now + timedelta(seconds=self.retry.delay(number, retry_after))
        failing_since = message.failing_since or now
        if self.retry.exhausted(message.channel, number, failing_since, planned):
            log.info("retries_exhausted", message=message.id, attempts=number)
            failed = _failure(message, number, exc, None)
            return await self._move_on(message, FallbackReason.RETRIES_EXHAUSTED, failed)
        await self.store.deliveries.afinish_failed(_failure(message, number, exc, planned))
        return Retry(message.id, planned)

    async def _move_on(
        self, message: MessageRecord, reason: FallbackReason, failed: FailedAttempt
    ) -> MovedOn:
        """Commit the final failed attempt and the move to the next step together."""
        moved = await self.router.move_on(message, reason, failed=failed)
        return MovedOn(message.id, reason, tuple(moved or ()), moved=moved is not None)

    async def _permanent_reason(
        self, message: MessageRecord, label: str, exc: PermanentSendError
    ) -> tuple[FallbackReason, list[MessageRecord]]:
        """Why a permanent error moves the notification on, and the person's messages
        still queued that an opt-out refusal withdraws too."""
        if isinstance(exc, OptOutError):
            source = f"provider:{exc.provider_code or 'opt-out'}"
            return FallbackReason.OPTED_OUT, await self.consent.opt_out_recipient(
                message, source=source
            )
        if isinstance(exc, AuthenticationError):
            self.health.mark_down(label, str(exc))
            return FallbackReason.NOT_CONNECTED, []
        if closed_window(exc.provider_code):
            return FallbackReason.OUTSIDE_SESSION_WINDOW, []
        return FallbackReason.PROVIDER_ERROR, []

    async def succeeded(
        self, message: MessageRecord, number: int, receipt: SendReceipt
    ) -> MessageRecord | None:
        """Commit an accepted send, with this month's count of its channel's messages.

        :returns: the message as now stored, or ``None`` when the send's status was
            not applied (a callback got there first): then only the store can tell.
        """
        # every channel is counted under its own kind: a monthly limit set for it later in
        # the month sees what was already sent, and a pager's sends never count as SMS
        tenant = self._tenant(message.tenant)
        usage = (message.tenant, month_of(utcnow(), tenant.time_zone), message.channel.value)
        outcome = await self.store.deliveries.afinish_sent(
            AcceptedAttempt(
                message.id,
                number,
                provider_message_id=receipt.provider_message_id,
                status=receipt.status,
                to_address=receipt.to,
                segments=receipt.segments,
                encoding=receipt.encoding,
                usage=usage,
            )
        )
        if not outcome.applied:
            return None
        change = StatusChange(
            status=outcome.status, source=StatusSource.SEND, recorded_at=outcome.at, applied=True
        )
        return replace(
            message,
            status=outcome.status,
            provider_message_id=receipt.provider_message_id,
            to_address=receipt.to,
            segments=receipt.segments,
            encoding=receipt.encoding,
            updated_at=outcome.at,
            timeline=(*message.timeline, change),
        )

    async def reconcile(
        self, label: str, outbound: OutboundMessage, since: datetime
    ) -> SendReceipt | None:
        """Ask the provider whether a maybe-sent message went out: its receipt, or ``None``
        when it was not sent or the connector cannot look messages up (SMTP).

        :raises ConnectorError: the lookup itself failed, so nobody can tell yet.
        """
        connector = self.host.connector(label)
        if not isinstance(connector, SupportsReconcile):
            return None
        find_sent = connector.find_sent
        if outbound.template is not None:  # only a connector that sends templates gets one
            find_sent = functools.partial(connector.find_sent, template=outbound.template)
        return await find_sent(
            outbound.to,
            outbound.reference,
            since,
            body=outbound.body,
            sender=outbound.sender,
            channel=outbound.channel,
        )

    # -- recovery -------------------------------------------------------------------------------

    async def recover(self, stale_after: timedelta) -> tuple[int, int]:
        """Settle attempts left in flight by a crashed process.

        Where the connector can look its messages up (Twilio), a message the
        provider has is adopted, and only one it does not have is sent again;
        while the lookup itself fails, the attempt is left for the next sweep,
        up to the channel's retry budget, then sent again. Otherwise (SMTP) it
        is sent again: the at-least-once window.

        :returns: ``(adopted, resent)``.
        """
        adopted = resent = 0
        for message_id, number, started in self.store.deliveries.stale_attempts(
            utcnow() - stale_after
        ):
            message = self.store.deliveries.message(message_id)
            if message is None:
                continue
            label = f"{message.tenant}/{message.instance}"
            outbound = message.outbound()
            try:
                receipt = await self.reconcile(label, outbound, started - timedelta(seconds=5))
            except ConnectorError as lookup:
                unknown_for = (utcnow() - started).total_seconds()
                if unknown_for < self.retry.budget(message.channel):
                    log.info("send_outcome_still_unknown", message_id=message.id, error=str(lookup))
                    continue
                receipt = None
            if receipt is not None:
                await self.succeeded(message, number, receipt)
                adopted += 1
            elif self.store.deliveries.abandon(message_id, number, retry_at=utcnow()):
                resent += 1
        if adopted or resent:
            log.info("recovered_in_flight", adopted=adopted, resent=resent)
        return adopted, resent


def _failure(
    message: MessageRecord, number: int, exc: ConnectorError, retry_at: datetime | None
) -> FailedAttempt:
    """What a failed attempt commits: to retry at ``retry_at``, or final (``None``)."""
    return FailedAttempt(
        message.id,
        number,
        error_kind=type(exc).__name__,
        error_code=exc.provider_code,
        error_message=str(exc),
        retry_at=retry_at,
    )
