"""Fallback in one place: a notification's first step, and moving on from a message.

Every trigger that makes a notification try its next step calls
:meth:`Router.move_on` with a :class:`~relaykit.delivery.reasons.FallbackReason`:

* a step skipped before sending - the pre-send rules of
  :data:`~relaykit.delivery.planner.SKIP_RULES`, applied while planning;
* a permanent provider error, an opt-out refusal or rejected credentials
  (:class:`~relaykit.delivery.dispatcher.Dispatcher`); a WhatsApp message
  refused outside its 24-hour window is first tried again with the event's
  approved template (:mod:`~relaykit.delivery.session_window`);
* exhausted retries (the dispatcher);
* an ``undelivered``/``failed`` status callback, a 21610 opt-out among them
  (:class:`~relaykit.delivery.callbacks.CallbackApplier`);
* a missed delivery deadline (:meth:`Relay.sweep_deadlines
  <relaykit.delivery.relay.Relay.sweep_deadlines>`);
* an opt-out (inbound STOP, a 21610 status or send refusal) catching a person's
  messages still queued (:meth:`Router.withdraw`).

The router marks the message, plans the next steps and adds their messages
in one transaction, once per message, and returns the ids of the messages to
send: the caller sends them (inline) or leaves them to the worker.
"""

from __future__ import annotations

from datetime import UTC, datetime

from relaykit.delivery.planner import Plan, Planner
from relaykit.delivery.reasons import FallbackReason
from relaykit.delivery.session_window import template_retry
from relaykit.errors import ConfigError
from relaykit.logs import get_logger
from relaykit.recipients import Recipient, StaffUser
from relaykit.settings import RelaykitSettings
from relaykit.store import FailedAttempt, MessageRecord, NewMessage, Store

__all__ = ["Router"]

log = get_logger("relaykit.router")


class Router:
    """Plans first steps and moves notifications on; the one owner of "next step"."""

    def __init__(self, store: Store, planner: Planner, settings: RelaykitSettings) -> None:
        self.store = store
        self.planner = planner
        self.settings = settings

    def first(self, plan: Plan, now: datetime | None = None) -> list[NewMessage]:
        """The messages a new notification starts with: skipped steps, then the one to send."""
        return self.planner.plan(plan, 0, now or datetime.now(UTC))

    async def move_on(
        self,
        message: MessageRecord,
        reason: FallbackReason,
        *,
        failed: FailedAttempt | None = None,
    ) -> list[str] | None:
        """Move ``message``'s notification on to its next usable step, because of ``reason``.

        :param failed: the final failed attempt behind ``reason``, committed in the
            same transaction as the move (a permanent error, exhausted retries).
        :returns: the ids of the new messages to send (none when every step is
            used up: the notification is then ``failed``), or ``None`` when the
            notification was already moved on from this message (nothing changed
            but ``failed``).
        """
        planned = self._next(message, reason)
        pending = await self.store.deliveries.afall_back(message, reason, planned, failed=failed)
        if pending is not None:
            log.info("fell_back", message=message.id, reason=reason.value, next=pending)
        return pending

    async def withdraw(self, queued: list[MessageRecord], reason: FallbackReason) -> list[str]:
        """Move on from messages still queued (not yet handed to a provider) that must not
        go, e.g. to numbers an opt-out just disabled: each is withdrawn (``canceled``,
        no attempt) and its notification goes to its next step.

        :returns: the ids of the new messages to send.
        """
        pending: list[str] = []
        for message in queued:
            log.info("withdrawn", message=message.id, reason=reason.value)
            pending += await self.move_on(message, reason) or []
        return pending

    def _next(self, message: MessageRecord, reason: FallbackReason) -> list[NewMessage]:
        notification = self.store.deliveries.notification_row(message.notification_id)
        recipient = Recipient.model_validate(notification.recipient)
        try:
            plan = Plan.build(
                notification.tenant,
                self.settings.tenant(notification.tenant),
                notification.event,
                recipient,
                notification.data,
                StaffUser.model_validate(notification.staff) if notification.staff else None,
            )
        except ConfigError as exc:  # the route was removed since: no step left
            log.warning("no_route_to_move_on", message=message.id, error=str(exc))
            return []
        now = datetime.now(UTC)
        retry = template_retry(self.planner, plan, message, reason, now)
        if retry is not None:
            return [retry]
        return self.planner.plan(plan, message.step + 1, now)
