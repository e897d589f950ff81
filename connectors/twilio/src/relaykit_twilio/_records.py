"""Reading the SDK's Message records: statuses, and which record a lost send became."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from relaykit.contract import AmbiguousSendError, MessageStatus

__all__ = ["Candidate", "message_status", "pick_sent"]

#: How far Twilio's clock (date_created) may be behind ours when matching a lost send.
CLOCK_SKEW = timedelta(minutes=2)


def message_status(raw: object) -> MessageStatus:
    """A Message record's status as relaykit's enum (Twilio's vocabulary is the same)."""
    text = str(getattr(raw, "value", raw) or "").lower()
    try:
        return MessageStatus(text)
    except ValueError:
        return MessageStatus.QUEUED  # a status newer than this connector: not final, keep polling


@dataclass(frozen=True, slots=True)
class Candidate:
    """What ``find_sent`` compares of one outbound Message record."""

    sid: str
    status: MessageStatus
    sender: str | None
    messaging_service_sid: str | None
    body: str
    created: datetime | None

    @classmethod
    def of(cls, record: Any) -> Candidate:
        return cls(
            sid=str(record.sid),
            status=message_status(record.status),
            sender=record.from_,
            messaging_service_sid=record.messaging_service_sid,
            body=record.body or "",
            created=record.date_created,
        )


def pick_sent(
    candidates: Iterable[Candidate],
    *,
    since: datetime,
    sender: str | None,
    messaging_service_sid: str | None,
    body: str | None,
    not_body: str | None = None,
) -> Candidate | None:
    """The record a send started at ``since`` became, or ``None`` when there is none.

    Twilio's Message resource does not echo the StatusCallback URL (where the
    reference travels), so a record is matched on what it does show: created
    at or after ``since`` (less :data:`CLOCK_SKEW`), from this sender or
    Messaging Service, and - when given - with this body (Twilio may prefix a
    trial notice, so the body may end with it), or - ``not_body`` - without that
    one (a provider template's record has the template's text, and the session
    message it replaced had ``not_body``). The first match created at or after
    ``since`` wins.

    :raises AmbiguousSendError: no body was given and several records fit.
    """
    fits = [
        c
        for c in candidates
        if (c.created is None or c.created >= since - CLOCK_SKEW)
        and (
            (messaging_service_sid is not None and c.messaging_service_sid == messaging_service_sid)
            or (sender is not None and c.sender == sender)
        )
    ]
    if not_body is not None:
        fits = [c for c in fits if not (c.body == not_body or c.body.endswith(not_body))]
    if body is not None:
        fits = [c for c in fits if c.body == body or c.body.endswith(body)]
    elif len(fits) > 1:
        raise AmbiguousSendError(
            f"{len(fits)} messages to this recipient since {since.isoformat()} could be the "
            "lost one; pass the body to tell them apart",
            connector="twilio",
        )
    # Prefer the first record at or after ``since``; one within the skew allowance only if
    # there is none (an identical message sent just before the lost one is not it).
    # Twilio's dates have whole seconds; ties keep Twilio's newest-first order.
    whole_second = since.replace(microsecond=0)
    fits.sort(key=lambda c: _closeness(c.created, whole_second))
    return fits[0] if fits else None


def _closeness(created: datetime | None, since: datetime) -> tuple[int, float]:
    if created is None:
        return (2, 0.0)
    delta = (created - since).total_seconds()
    return (0, delta) if delta >= 0 else (1, -delta)
