"""The states relaykit itself gives messages, attempts and notifications.

A message's status is either one of these local states (before the provider
has it) or a provider's :class:`~relaykit.results.MessageStatus`. Both are
``StrEnum``: stored as their value, equal to it in comparisons.
"""

from __future__ import annotations

import enum

from relaykit.results import MessageStatus

__all__ = [
    "CLAIMABLE",
    "LOCAL_STATES",
    "REDRIVABLE",
    "AttemptState",
    "LocalStatus",
    "NotificationState",
    "StatusSource",
    "notification_state",
]


class LocalStatus(enum.StrEnum):
    """A message's status while relaykit holds it."""

    #: committed, due to be sent
    PENDING = "pending"
    #: claimed: its provider call is in flight
    SUBMITTING = "submitting"
    #: a transient failure; due again at ``next_attempt_at``
    RETRYING = "retrying"
    #: a step not taken (no address, opted out, a rule); its reason is the fallback reason
    SKIPPED = "skipped"


class AttemptState(enum.StrEnum):
    """One provider call of a message."""

    IN_FLIGHT = "in_flight"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: left in flight by a process that died; recovery gave it up
    ABANDONED = "abandoned"


class NotificationState(enum.StrEnum):
    """A notification's state, derived from the message that carries it (see
    :func:`notification_state`)."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class StatusSource(enum.StrEnum):
    """Who put a status on a message's timeline."""

    RELAYKIT = "relaykit"
    SEND = "send"
    CALLBACK = "callback"
    RECOVERY = "recovery"
    OPERATOR = "operator"


#: Message statuses a worker may claim for an attempt.
CLAIMABLE = (LocalStatus.PENDING, LocalStatus.RETRYING)
#: Final message statuses an operator may re-drive (``relaykit messages retry``).
REDRIVABLE = (MessageStatus.FAILED, MessageStatus.UNDELIVERED)
#: relaykit's own states before the provider has the message; any provider status beats them.
LOCAL_STATES = tuple(LocalStatus)


def notification_state(message_status: str) -> NotificationState:
    """The state a notification takes from the status of the message that carries it:
    ``pending`` until the provider has it, ``failed`` when no step is left (the last
    planned one was skipped), then ``sent``, ``delivered`` once the message is.

    The one place this is decided.
    """
    if message_status in CLAIMABLE or message_status == LocalStatus.SUBMITTING:
        return NotificationState.PENDING
    if message_status == LocalStatus.SKIPPED:
        return NotificationState.FAILED
    if message_status in (MessageStatus.DELIVERED, MessageStatus.READ):
        return NotificationState.DELIVERED
    return NotificationState.SENT


def moves_forward(current: str, new: MessageStatus) -> bool:
    """Whether a provider status ``new`` replaces a message's ``current`` status: a lower
    status never replaces a higher one (a late ``sent`` never overwrites ``delivered``)."""
    if current in LOCAL_STATES:
        return True
    try:
        return new.progress > MessageStatus(current).progress
    except ValueError:
        return True
