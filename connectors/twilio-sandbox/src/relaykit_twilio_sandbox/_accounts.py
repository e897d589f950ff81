"""The accounts a sandbox serves: credentials, status, numbers, WhatsApp senders, services.

Everything here is configured in Python; the default account is what the demo,
``relaykit sandbox twilio`` and the tests use unless they build their own.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from relaykit_twilio_sandbox._content import ContentTemplate, SessionWindows

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_MESSAGING_SERVICE_SID",
    "DEFAULT_SMS_NUMBER",
    "DEFAULT_VOICE_ONLY_NUMBER",
    "IncomingNumber",
    "MessagingService",
    "SandboxAccount",
    "WhatsAppSender",
    "default_account",
    "new_sid",
]

AccountStatus = Literal["active", "suspended", "closed"]
#: A WhatsApp sender's ``status`` (Messaging v2 Channels Senders); only ONLINE ones send.
SenderStatus = Literal[
    "ONLINE",
    "ONLINE:UPDATING",
    "OFFLINE",
    "PENDING_VERIFICATION",
    "VERIFYING",
    "TWILIO_REVIEW",
    "DRAFT",
    "STUBBED",
]
SENDING_STATUSES = frozenset({"ONLINE", "ONLINE:UPDATING"})

#: Credentials of the default test account. Not secrets: they only open this sandbox.
DEFAULT_ACCOUNT_SID = "AC5a4db0c05a4db0c05a4db0c05a4db0c0"
DEFAULT_AUTH_TOKEN = "5a4db0c0f00df00df00df00df00df00d"
#: Twilio's documented valid test "From" number; SMS, MMS and WhatsApp capable here.
DEFAULT_SMS_NUMBER = "+15005550006"
#: Owned by the default account but not SMS-capable (voice only): sending from it gives 21606.
DEFAULT_VOICE_ONLY_NUMBER = "+15005550007"
DEFAULT_MESSAGING_SERVICE_SID = "MG5a4db0c05a4db0c05a4db0c05a4db0c0"

_EPOCH = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def new_sid(prefix: str) -> str:
    """A fresh Twilio-style SID: two-letter prefix and 32 lower-case hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass
class IncomingNumber:
    """A phone number the account owns (Twilio's IncomingPhoneNumber resource).

    :ivar sms_url: where inbound messages to this number are posted (its SmsUrl).

    Whether it is a WhatsApp sender is not the number's business, as on
    Twilio: see :class:`WhatsAppSender`.
    """

    phone_number: str
    sms: bool = True
    mms: bool = True
    voice: bool = True
    fax: bool = False
    sms_url: str | None = None
    friendly_name: str = ""
    sid: str = field(default_factory=lambda: new_sid("PN"))
    date_created: datetime = _EPOCH

    def __post_init__(self) -> None:
        if not self.friendly_name:
            self.friendly_name = self.phone_number


@dataclass
class WhatsAppSender:
    """A WhatsApp sender of the account (Messaging v2 ``/v2/Channels/Senders``).

    :ivar phone_number: the E.164 number; its ``sender_id`` is ``whatsapp:`` + it.
    :ivar status: only ``ONLINE`` (or ``ONLINE:UPDATING``) senders send; from
        any other, or from a number with no sender, a send fails with 63007.
    """

    phone_number: str
    status: SenderStatus = "ONLINE"
    display_name: str = "relaykit sandbox"
    sid: str = field(default_factory=lambda: new_sid("XE"))
    date_created: datetime = _EPOCH

    @property
    def sender_id(self) -> str:
        return f"whatsapp:{self.phone_number}"

    @property
    def sends(self) -> bool:
        return self.status in SENDING_STATUSES


@dataclass
class MessagingService:
    """A Messaging Service (``MG…``) with its sender pool of the account's numbers.

    :ivar status_callback: used for messages sent through the service that
        set no StatusCallback of their own.
    :ivar inbound_request_url: where inbound messages to a pool number go
        when the number itself has no SmsUrl.
    """

    sid: str = field(default_factory=lambda: new_sid("MG"))
    friendly_name: str = "Sandbox messaging service"
    sender_pool: tuple[str, ...] = ()
    status_callback: str | None = None
    inbound_request_url: str | None = None
    date_created: datetime = _EPOCH


@dataclass
class SandboxAccount:
    """One Twilio account: the Basic-auth pair, its status and what it owns.

    The auth token is kept out of ``repr``. ``opt_outs`` holds
    ``(our_number, their_number)`` pairs written by inbound STOP (and cleared by
    START), so a later send between them fails with 21610 as on Twilio.

    :ivar content_templates: the account's Content templates (``ContentSid``).
    :ivar whatsapp_session_window: model WhatsApp's 24-hour window: a free-form
        WhatsApp message (or an unapproved template) to someone who has not
        written to the sender in the last 24 hours (``sessions``) is accepted,
        then ``failed`` with 63016. Off by default: then every free-form
        WhatsApp message is delivered (but to the magic numbers).
    :ivar sessions: when each person last wrote to each WhatsApp sender
        (an inbound WhatsApp message opens the window).
    """

    sid: str = field(default_factory=lambda: new_sid("AC"))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    friendly_name: str = "relaykit sandbox account"
    status: AccountStatus = "active"
    type: Literal["Trial", "Full"] = "Full"
    numbers: list[IncomingNumber] = field(default_factory=list)
    whatsapp_senders: list[WhatsAppSender] = field(default_factory=list)
    services: list[MessagingService] = field(default_factory=list)
    allow_alphanumeric_sender: bool = True
    opt_outs: set[tuple[str, str]] = field(default_factory=set)
    content_templates: list[ContentTemplate] = field(default_factory=list)
    whatsapp_session_window: bool = False
    sessions: SessionWindows = field(default_factory=SessionWindows)
    date_created: datetime = _EPOCH

    def number(self, phone_number: str) -> IncomingNumber | None:
        """The owned number equal to ``phone_number`` (channel prefix ignored), if any."""
        bare = phone_number.removeprefix("whatsapp:")
        return next((n for n in self.numbers if n.phone_number == bare), None)

    def whatsapp_sender(self, phone_number: str) -> WhatsAppSender | None:
        """The WhatsApp sender of ``phone_number`` (channel prefix ignored), if any."""
        bare = phone_number.removeprefix("whatsapp:")
        return next((w for w in self.whatsapp_senders if w.phone_number == bare), None)

    def content(self, sid: str) -> ContentTemplate | None:
        """The account's Content template ``sid`` (``HX…``), if any."""
        return next((c for c in self.content_templates if c.sid == sid), None)

    def add_content(self, template: ContentTemplate) -> ContentTemplate:
        """Add ``template``, replacing one with the same SID."""
        self.content_templates = [c for c in self.content_templates if c.sid != template.sid]
        self.content_templates.append(template)
        return template

    def service(self, sid: str) -> MessagingService | None:
        return next((s for s in self.services if s.sid == sid), None)

    def service_of(self, phone_number: str) -> MessagingService | None:
        """The messaging service whose sender pool holds ``phone_number``, if any."""
        bare = phone_number.removeprefix("whatsapp:")
        return next((s for s in self.services if bare in s.sender_pool), None)


def default_account() -> SandboxAccount:
    """A fresh copy of the default test account (active, Full).

    It owns :data:`DEFAULT_SMS_NUMBER` (SMS, MMS, voice, and an ONLINE
    WhatsApp sender) and :data:`DEFAULT_VOICE_ONLY_NUMBER` (voice only, no
    WhatsApp sender), and has the messaging service
    :data:`DEFAULT_MESSAGING_SERVICE_SID` whose pool is the SMS number.
    """
    return SandboxAccount(
        sid=DEFAULT_ACCOUNT_SID,
        auth_token=DEFAULT_AUTH_TOKEN,
        friendly_name="relaykit sandbox default account",
        numbers=[
            IncomingNumber(DEFAULT_SMS_NUMBER, sid="PN5a4db0c05a4db0c05a4db0c05a4db006"),
            IncomingNumber(
                DEFAULT_VOICE_ONLY_NUMBER,
                sms=False,
                mms=False,
                sid="PN5a4db0c05a4db0c05a4db0c05a4db007",
            ),
        ],
        whatsapp_senders=[
            WhatsAppSender(DEFAULT_SMS_NUMBER, sid="XE5a4db0c05a4db0c05a4db0c05a4db006")
        ],
        services=[
            MessagingService(
                sid=DEFAULT_MESSAGING_SERVICE_SID,
                friendly_name="relaykit sandbox service",
                sender_pool=(DEFAULT_SMS_NUMBER,),
            )
        ],
    )
