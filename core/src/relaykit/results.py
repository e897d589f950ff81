"""Typed values that cross the plugin boundary.

Everything a connector receives from the host or hands back to it is one of
these frozen dataclasses, enums or kinds (:class:`Channel`), never a bare
``dict``: a plugin author can read the whole contract here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal
from urllib.parse import parse_qsl

from relaykit._kinds import Kind

__all__ = [
    "CallbackEvent",
    "CallbackOutcome",
    "CallbackRequest",
    "Channel",
    "ConnectionState",
    "ConnectionStatus",
    "ConsentChange",
    "Direction",
    "FieldSpec",
    "InboundMessage",
    "MessageStatus",
    "OutboundMessage",
    "Priority",
    "ProviderTemplate",
    "SendReceipt",
    "SenderCheck",
    "StatusUpdate",
]


class Channel(Kind):
    """A way of reaching a person: a channel kind, declared by the connectors that serve it.

    relaykit ships three (``Channel.SMS``, ``Channel.WHATSAPP``, ``Channel.EMAIL``);
    a connector may declare its own (``Channel("pager")``). Any lower-case
    identifier of at most 32 characters is a channel kind; compare kinds with
    ``==`` (a kind equals its text: ``Channel.SMS == "sms"``).
    """

    __slots__ = ()
    what: ClassVar[str] = "channel kind"

    SMS: ClassVar[Channel]
    WHATSAPP: ClassVar[Channel]
    EMAIL: ClassVar[Channel]


Channel.SMS = Channel._define("sms")
Channel.WHATSAPP = Channel._define("whatsapp")
Channel.EMAIL = Channel._define("email")


class Priority(enum.StrEnum):
    """How urgent a message is (a route's ``priority``): a ``high`` one (an OTP) is
    claimed before ``normal`` ones and is not kept waiting behind a sender's queued
    sends (docs/otp.md)."""

    NORMAL = "normal"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """The order claims take: higher first (the store's ``messages.priority``)."""
        return 1 if self is Priority.HIGH else 0

    @classmethod
    def of_rank(cls, rank: int | None) -> Priority:
        """The priority a stored ``rank`` stands for."""
        return cls.HIGH if rank else cls.NORMAL


class MessageStatus(enum.StrEnum):
    """Where a message stands at its provider.

    The values are Twilio's ``MessageStatus`` vocabulary, which is a superset
    of what SMTP can tell (``sent`` = accepted by the relay, ``failed`` = bounced).
    """

    QUEUED = "queued"
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    PARTIALLY_DELIVERED = "partially_delivered"
    RECEIVING = "receiving"
    RECEIVED = "received"

    @property
    def is_final(self) -> bool:
        """True when no later status can follow (but ``read`` after ``delivered``)."""
        return self in _FINAL

    @property
    def is_failure(self) -> bool:
        """True for the statuses that mean the person did not get the message."""
        return self in (MessageStatus.UNDELIVERED, MessageStatus.FAILED, MessageStatus.CANCELED)

    @property
    def progress(self) -> int:
        """How far along the delivery path this is; a lower status never replaces a higher one."""
        return _PROGRESS[self]


_FINAL = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.READ,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.CANCELED,
        MessageStatus.RECEIVED,
    }
)
_PROGRESS = {
    MessageStatus.SCHEDULED: 0,
    MessageStatus.ACCEPTED: 1,
    MessageStatus.QUEUED: 2,
    MessageStatus.SENDING: 3,
    MessageStatus.RECEIVING: 3,
    MessageStatus.SENT: 4,
    MessageStatus.PARTIALLY_DELIVERED: 5,
    MessageStatus.DELIVERED: 6,
    MessageStatus.RECEIVED: 6,
    MessageStatus.UNDELIVERED: 6,
    MessageStatus.FAILED: 6,
    MessageStatus.CANCELED: 6,
    MessageStatus.READ: 7,
}


class Direction(enum.StrEnum):
    """Which way a data field flows, seen from the host."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One row of a connector's data-field mapping: host field ↔ vendor field."""

    host_field: str
    vendor_field: str
    direction: Direction
    required: bool
    description: str = ""


class ConnectionState(enum.StrEnum):
    """The outcome of ``authenticate``: connected, or the reason it is not."""

    CONNECTED = "connected"
    INVALID_CREDENTIALS = "invalid_credentials"
    ACCOUNT_SUSPENDED = "account_suspended"
    SENDER_NOT_VERIFIED = "sender_not_verified"
    SENDER_REJECTED = "sender_rejected"
    UNREACHABLE = "unreachable"
    TLS_FAILURE = "tls_failure"
    MISCONFIGURED = "misconfigured"


@dataclass(frozen=True, slots=True)
class SenderCheck:
    """One sender an instance will use, as ``authenticate`` found it.

    :ivar role: where the instance gets it: the setting's name
        (``sms_sender``) or ``two_way.sender_pool``.
    :ivar sender: the address as the provider knows it (``+15017122661``, ``MG…``).
    :ivar ok: it can send for this account.
    :ivar detail: what was checked, or what to fix, in a sentence.
    """

    role: str
    sender: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """What ``authenticate`` found; ``detail`` says what to fix, in a sentence.

    :ivar senders: one :class:`SenderCheck` per sender the instance will use
        (its own and ``InstanceConfig.extra_senders``), when the connector
        checks senders; a failed one should make the state
        ``sender_not_verified``. Empty for connectors without senders.
    """

    state: ConnectionState
    detail: str = ""
    senders: tuple[SenderCheck, ...] = ()

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED


@dataclass(frozen=True, slots=True)
class ProviderTemplate:
    """A template approved at the provider, to send instead of a free-form body.

    WhatsApp outside its 24-hour customer service window only delivers such
    templates (Twilio: a Content SID and its Content Variables).

    :ivar id: the provider's id of the template (Twilio: the Content SID, ``HX…``).
    :ivar variables: the template's variables, rendered: the provider's key
        (Twilio: ``"1"``, ``"2"`` …) to its text.
    """

    id: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message for one recipient on one channel, already rendered.

    :ivar reference: the host's id for this message; connectors carry it to the
        provider where they can (e.g. in the status-callback URL) so callbacks
        and crash recovery can find the message again.
    :ivar sender: overrides the instance's configured sender (e.g. a staff
        user's number from the tenant's pool); ``None`` uses the default.
    :ivar template: send this provider-approved template instead of ``body``
        (``body`` still holds the event's own rendering, for records and
        lookups); ``None`` for a free-form message. A connector whose provider
        has no such templates refuses a message with one (``PermanentSendError``).
    :ivar validity_period: seconds the provider may keep the message queued before it
        gives up on it (Twilio's ``ValidityPeriod``, 1-36000); ``None``: the provider's
        default. A connector whose provider has no such setting ignores it.
    :ivar priority: how urgent the message is; middleware (the rate limiter) reads it.
    """

    channel: Channel
    to: str
    body: str
    reference: str = ""
    subject: str | None = None
    html_body: str | None = None
    sender: str | None = None
    media_urls: tuple[str, ...] = ()
    reply_to: str | None = None
    template: ProviderTemplate | None = None
    validity_period: int | None = None
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The provider accepted a message.

    :ivar provider_message_id: the provider's id (Twilio ``MessageSid``, email ``Message-ID``).
    :ivar to: the recipient as the provider got it (normalised, e.g. E.164).
    :ivar segments: SMS segments billed for the body, when the channel has them.
    :ivar encoding: ``"GSM-7"`` or ``"UCS-2"`` for SMS, when known.
    """

    provider_message_id: str
    status: MessageStatus
    channel: Channel
    to: str
    segments: int | None = None
    encoding: str | None = None


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """An HTTP request a provider sent to this instance's webhook.

    :ivar kind: the webhook's kind as the connector's spec declares it
        (e.g. ``status``, ``inbound``, ``bounce``).
    :ivar url: the public URL the provider called, built from the configured
        public base URL (never from the ``Host`` header), so signatures that
        cover the URL verify behind a proxy.
    :ivar headers: header names lower-cased.
    """

    kind: str
    url: str
    method: str
    headers: Mapping[str, str]
    body: bytes
    content_type: str = "application/x-www-form-urlencoded"

    def form_items(self) -> list[tuple[str, str]]:
        """The url-encoded form body as ordered pairs; repeated keys are kept."""
        return parse_qsl(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)

    def form(self) -> dict[str, str]:
        """The url-encoded form body as a dict; for a repeated key the last value wins."""
        return dict(self.form_items())


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """The provider reports a new status for a message it accepted earlier."""

    provider_message_id: str
    status: MessageStatus
    error_code: str | None = None
    error_message: str | None = None
    reference: str | None = None
    dedupe_key: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """Someone wrote to one of the instance's addresses (an SMS reply, a WhatsApp message)."""

    provider_message_id: str
    channel: Channel
    sender: str
    recipient: str
    body: str
    media_urls: tuple[str, ...] = ()
    dedupe_key: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """A person opted out of (``opt_out``) or back into (``opt_in``) messages from an address."""

    action: Literal["opt_out", "opt_in"]
    channel: Channel
    address: str
    instance_address: str
    keyword: str = ""
    dedupe_key: str | None = None


CallbackEvent = StatusUpdate | InboundMessage | ConsentChange


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    """What ``handle_callback`` made of a verified request.

    :ivar events: normalised events, in the order they happened.
    :ivar response_body: what the provider expects back (e.g. empty TwiML).
    """

    events: tuple[CallbackEvent, ...]
    response_body: bytes = b""
    response_content_type: str = "text/plain"
