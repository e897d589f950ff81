"""Sending one message: one provider attempt, its outcome, and what comes next.

"Deliver message N" is the unit of work. It is idempotent - an attempt is
claimed atomically from ``pending``/``retrying`` and committed in flight
before the provider call, its outcome committed after (PITFALLS 21: no lock or
transaction is held across the call) - so the inline path, a worker or a task
queue can run it, and running it twice sends once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from relaykit.connectors import SupportsReconcile
from relaykit.delivery.consent import Consent
from relaykit.delivery.health import InstanceHealth
from relaykit.delivery.planner import month_of
from relaykit.delivery.reasons import FallbackReason
from relaykit.delivery.router import Router
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
from relaykit.settings import DEFAULT_RETRY_FOR_SECONDS, DeliverySettings
from relaykit.store import AcceptedAttempt, FailedAttempt, MessageRecord, StatusChange, Store
from relaykit.store.states import StatusSource

__all__ = ["AttemptResult", "Dispatcher", "RetryPolicy", "utcnow"]

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
        return self.retry_for.get(channel, DEFAULT_RETRY_FOR_SECONDS[channel])


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt led to.

    :ivar retry_at: set when the message waits for another attempt.
    :ivar next_messages: messages of later steps now pending (a fallback).
    :ivar settled: after a send whose status was applied, the message as now stored
        (its timeline too when the attempt was given the message with its timeline).
    """

    sent: bool = False
    retry_at: datetime | None = None
    next_messages: list[str] = field(default_factory=list)
    settled: MessageRecord | None = None


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

    async def attempt(
        self, message_id: str, number: int, message: MessageRecord | None = None
    ) -> AttemptResult:
        """Call the provider once for a claimed message and commit the outcome.

        :param message: the claimed message as committed, when the caller has it
            (the inline path); otherwise it is read from the store.
        """
        self._running += 1
        try:
            return await self._attempt(message_id, number, message)
        finally:
            self._running -= 1

    async def _attempt(
        self, message_id: str, number: int, message: MessageRecord | None
    ) -> AttemptResult:
        if message is None:
            message = self.store.deliveries.message(message_id, timeline=False)
        if message is None:
            return AttemptResult()
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
                return AttemptResult()
            if found is None:
                return await self._transient(message, number, exc)
            receipt = found
        except PacedError as exc:  # our own rate limit: a wait in line, not an attempt
            retry_at = utcnow() + timedelta(seconds=exc.retry_after or 0.0)
            await self.store.deliveries.adefer(message.id, number, retry_at=retry_at)
            return AttemptResult(retry_at=retry_at)
        except RateLimitedError as exc:
            return await self._transient(message, number, exc, exc.retry_after)
        except TransientSendError as exc:
            return await self._transient(message, number, exc)
        except PermanentSendError as exc:
            reason = self._permanent_reason(message, label, exc)
            await self._failed(message, number, exc, None)
            return AttemptResult(next_messages=await self.router.move_on(message, reason) or [])
        settled = await self.succeeded(message, number, receipt)
        return AttemptResult(sent=True, settled=settled)

    async def deliver_now(
        self, message_id: str, claimed: int | None = None, message: MessageRecord | None = None
    ) -> MessageRecord | None:
        """Send a message inline: attempts with backoff, then any fallback, until settled
        or until the next retry is more than ``inline_wait`` away (it stays due in the store).

        :param claimed: the attempt number when the caller already claimed it.
        :param message: the claimed message as just committed (with its timeline).
        :returns: the message as now stored when its first attempt was accepted and
            nothing else happened (no retry, no fallback); else ``None``: read it back.
        """
        queue: list[tuple[str, int | None]] = [(message_id, claimed)]
        wait_until = utcnow() + timedelta(seconds=self.retry.inline_wait)
        attempts = 0
        settled: MessageRecord | None = None
        while queue:
            current, number = queue.pop(0)
            if number is None:
                number = self.claim(current)
            while number is not None:
                given = message if attempts == 0 and claimed is not None else None
                result = await self.attempt(current, number, given)
                attempts += 1
                if attempts == 1 and given is not None:
                    settled = result.settled
                queue.extend((next_id, None) for next_id in result.next_messages)
                if result.retry_at is None or self.stopping or result.retry_at > wait_until:
                    break  # settled, stopping, or a later retry, which stays due in the database
                await asyncio.sleep(max(0.0, (result.retry_at - utcnow()).total_seconds()))
                number = self.claim(current)
        return settled if attempts == 1 else None

    def claim(self, message_id: str) -> int | None:
        """Claim a due message's next attempt here; ``None`` if not due, or once stopping."""
        return None if self.stopping else self.store.deliveries.claim(message_id)

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
        last = self.retry.exhausted(message.channel, number, failing_since, planned)
        retry_at = None if last else planned
        await self._failed(message, number, exc, retry_at)
        if last:
            log.info("retries_exhausted", message=message.id, attempts=number)
            moved = await self.router.move_on(message, FallbackReason.RETRIES_EXHAUSTED)
            return AttemptResult(next_messages=moved or [])
        return AttemptResult(retry_at=retry_at)

    def _permanent_reason(
        self, message: MessageRecord, label: str, exc: PermanentSendError
    ) -> FallbackReason:
        if isinstance(exc, OptOutError):
            source = f"provider:{exc.provider_code or 'opt-out'}"
            self.consent.opt_out_recipient(message, source=source)
            return FallbackReason.OPTED_OUT
        if isinstance(exc, AuthenticationError):
            self.health.mark_down(label, str(exc))
            return FallbackReason.NOT_CONNECTED
        return FallbackReason.PROVIDER_ERROR

    async def _failed(
        self,
        message: MessageRecord,
        number: int,
        exc: ConnectorError,
        retry_at: datetime | None,
    ) -> None:
        """Commit a failed attempt: to retry at ``retry_at``, or final (then the router
        moves the notification on, marking the message with the reason)."""
        await self.store.deliveries.afinish_failed(
            FailedAttempt(
                message.id,
                number,
                error_kind=type(exc).__name__,
                error_code=exc.provider_code,
                error_message=str(exc),
                retry_at=retry_at,
            )
        )

    async def succeeded(
        self, message: MessageRecord, number: int, receipt: SendReceipt
    ) -> MessageRecord | None:
        """Commit an accepted send, with this month's SMS count.

        :returns: the message as now stored, or ``None`` when the send's status was
            not applied (a callback got there first): then only the store can tell.
        """
        usage = None
        if message.channel is Channel.SMS:
            tenant = self._tenant(message.tenant)
            usage = (message.tenant, month_of(utcnow(), tenant.time_zone), "sms")
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
        return await connector.find_sent(
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
