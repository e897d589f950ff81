"""Typed rows the store hands out: a delivery with its messages and their timelines."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relaykit.results import Channel, MessageStatus, OutboundMessage, Priority, ProviderTemplate
from relaykit.store.states import LocalStatus, NotificationState

__all__ = [
    "AcceptedAttempt",
    "Claimed",
    "Created",
    "DeliveryRecord",
    "FailedAttempt",
    "MessageRecord",
    "NewMessage",
    "SentOutcome",
    "StatusChange",
    "UsageIncrement",
    "new_id",
    "request_fingerprint",
    "template_from_json",
    "template_json",
]


def new_id() -> str:
    """A 32-character id that sorts by creation time (48-bit ms timestamp + 80 random bits)."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


def request_fingerprint(
    event: str,
    recipient: Mapping[str, Any],
    data: Mapping[str, Any],
    staff: Mapping[str, Any] | None,
) -> str:
    """What "the same request" means for an idempotency key: a hash of its canonical JSON.

    The request is what a notification stores (its tenant is the key's scope):
    the event, the validated recipient, the data and the staff user, as JSON
    with sorted keys and no whitespace, so key order and formatting do not
    count, while any value that differs does (``1`` and ``1.0`` too).
    """
    request = json.loads(json.dumps([event, recipient, data, staff]))  # as stored: str keys
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def template_json(template: ProviderTemplate | None) -> str | None:
    """A message's provider template as its ``messages.provider_template`` column holds it."""
    if template is None:
        return None
    return json.dumps(
        {"id": template.id, "variables": dict(template.variables)}, ensure_ascii=False
    )


def template_from_json(text: str | None) -> ProviderTemplate | None:
    """The provider template of a ``messages.provider_template`` value (``None``: free-form)."""
    if not text:
        return None
    value = json.loads(text)
    return ProviderTemplate(
        str(value["id"]), {str(k): str(v) for k, v in value["variables"].items()}
    )


@dataclass(frozen=True)
class StatusChange:
    """One entry of a message's timeline; ``applied`` is False for a late or duplicate status."""

    status: str
    source: str
    recorded_at: datetime
    applied: bool
    error_code: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class NewMessage:
    """A message about to be committed as ``pending`` (or ``skipped``, with its fallback reason)."""

    step: int
    channel: Channel
    instance: str
    to_address: str
    body: str
    subject: str | None = None
    html_body: str | None = None
    sender: str | None = None
    status: str = LocalStatus.PENDING
    fallback_reason: str | None = None
    error_message: str | None = None
    segments: int | None = None
    encoding: str | None = None
    deadline_at: datetime | None = None
    #: send this provider-approved template instead of the body (WhatsApp outside its window)
    template: ProviderTemplate | None = None
    #: the route's priority: ``high`` is claimed first and not paced behind ``normal``
    priority: Priority = Priority.NORMAL
    #: seconds the provider may queue it (the step's ``validity_period``); ``None``: its default
    validity_period: int | None = None


@dataclass(frozen=True)
class MessageRecord:
    """A message as stored, with its timeline."""

    id: str
    notification_id: str
    tenant: str
    step: int
    channel: Channel
    instance: str
    to_address: str
    sender: str | None
    subject: str | None
    body: str
    html_body: str | None
    status: str
    provider_message_id: str | None
    segments: int | None
    encoding: str | None
    error_code: str | None
    error_message: str | None
    fallback_reason: str | None
    attempt_count: int
    created_at: datetime
    updated_at: datetime
    timeline: tuple[StatusChange, ...] = ()
    #: the first transient failure of the current run of retries; ``None`` before any
    failing_since: datetime | None = None
    #: the provider-approved template sent instead of the body; ``None`` for free-form
    template: ProviderTemplate | None = None
    priority: Priority = Priority.NORMAL
    validity_period: int | None = None

    @property
    def delivered(self) -> bool:
        return self.status in (MessageStatus.DELIVERED, MessageStatus.READ)

    def outbound(self) -> OutboundMessage:
        """What the connector is given for this message: for a send and for its
        reconciliation after a crash alike.

        The one builder, so a lookup asks for exactly what was sent (a staff
        message's pool number as ``sender``).
        """
        return OutboundMessage(
            channel=self.channel,
            to=self.to_address,
            body=self.body,
            reference=self.id,
            subject=self.subject,
            html_body=self.html_body,
            sender=self.sender,
            template=self.template,
            validity_period=self.validity_period,
            priority=self.priority,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "step": self.step,
            "channel": self.channel.value,
            "instance": self.instance,
            "to": self.to_address,
            "sender": self.sender,
            "status": self.status,
            "provider_message_id": self.provider_message_id,
            "segments": self.segments,
            "encoding": self.encoding,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "fallback_reason": self.fallback_reason,
            "attempts": self.attempt_count,
            "created_at": self.created_at.isoformat(),
            "timeline": [
                {
                    "status": change.status,
                    "source": change.source,
                    "at": change.recorded_at.isoformat(),
                    "applied": change.applied,
                    "error_code": change.error_code,
                }
                for change in self.timeline
            ],
        }


@dataclass(frozen=True)
class Claimed:
    """A message claimed for one attempt: its record as the claim committed it
    (``submitting``; no timeline) and the attempt's number."""

    message: MessageRecord
    attempt: int


@dataclass(frozen=True)
class DeliveryRecord:
    """A notification and everything relaykit did for it, in step order.

    :ivar state: ``pending`` (being sent), ``sent`` (a channel accepted it),
        ``delivered``, or ``failed`` (every channel exhausted).
    :ivar channel: the channel of the message that carries the notification now.
    :ivar fallbacks: ``(channel, reason)`` for every step that was passed over
        or failed, in order - "why did this go by email?".
    """

    id: str
    tenant: str
    event: str
    recipient_id: str
    state: str
    channel: Channel | None
    idempotency_key: str | None
    created_at: datetime
    messages: tuple[MessageRecord, ...] = field(default=())
    duplicate: bool = False

    @property
    def fallbacks(self) -> list[tuple[str, str]]:
        return [(m.channel.value, m.fallback_reason) for m in self.messages if m.fallback_reason]

    @property
    def current(self) -> MessageRecord | None:
        live = [
            m for m in self.messages if m.status != LocalStatus.SKIPPED and not m.fallback_reason
        ]
        return live[-1] if live else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "event": self.event,
            "recipient_id": self.recipient_id,
            "state": self.state,
            "channel": self.channel.value if self.channel else None,
            "idempotency_key": self.idempotency_key,
            "duplicate": self.duplicate,
            "created_at": self.created_at.isoformat(),
            "fallbacks": [{"channel": c, "reason": r} for c, r in self.fallbacks],
            "messages": [m.as_dict() for m in self.messages],
        }


@dataclass(frozen=True)
class Created:
    """What committing a notification did: its messages as written, the claimed ones first-attempt
    ``submitting``; ``created=False`` (and nothing else) when its idempotency key was taken."""

    notification_id: str
    created: bool
    state: str = NotificationState.PENDING
    created_at: datetime | None = None
    messages: tuple[MessageRecord, ...] = ()
    claimed: tuple[MessageRecord, ...] = ()


@dataclass(frozen=True)
class SentOutcome:
    """What committing an accepted send did.

    :ivar status: the message's status after the commit (a fast callback may be ahead).
    :ivar applied: the send's status became the message's status.
    :ivar at: when it was recorded.
    """

    status: str
    applied: bool
    at: datetime


UsageIncrement = tuple[str, str, str]  # tenant, month, channel


@dataclass(frozen=True)
class AcceptedAttempt:
    """A provider accepted attempt ``attempt`` of a message: what to commit."""

    message_id: str
    attempt: int
    provider_message_id: str
    status: MessageStatus
    #: the address as the provider normalised it
    to_address: str
    segments: int | None = None
    encoding: str | None = None
    #: the monthly counter to add one to (SMS), if any
    usage: UsageIncrement | None = None


@dataclass(frozen=True)
class FailedAttempt:
    """Attempt ``attempt`` of a message failed: what to commit."""

    message_id: str
    attempt: int
    #: the connector error's class name (``TransientSendError``, ...)
    error_kind: str
    error_code: str | None
    error_message: str
    #: when to try again; ``None``: a final failure (the router moves on)
    retry_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.retry_at is None
