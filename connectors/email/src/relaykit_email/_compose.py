"""Building the MIME message for one :class:`relaykit.OutboundMessage` (stdlib ``email``)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from relaykit.contract import OutboundMessage
from relaykit_email._fields import FieldValueError, check_header_text, normalize_address
from relaykit_email._settings import EmailSettings

__all__ = ["REFERENCE_HEADER", "ComposedMessage", "MessageComposer", "check_headers_intact"]

#: Carries ``OutboundMessage.reference``, so a bounce can be mapped back to it.
REFERENCE_HEADER = "X-Relaykit-Reference"
#: CRLF line ends; 7-bit transfer encodings (quoted-printable/base64) so any relay
#: takes the message, with or without 8BITMIME.
_POLICY = SMTP.clone(cte_type="7bit")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_MAX_REFERENCE = 200


@dataclass(frozen=True, slots=True)
class ComposedMessage:
    """A message ready for SMTP: envelope, bytes, and the ``Message-ID`` it carries."""

    message_id: str
    envelope_sender: str
    recipient: str
    content: bytes


class MessageComposer:
    """Builds messages for one instance; the per-instance parts are worked out once."""

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings

    def compose(self, message: OutboundMessage) -> ComposedMessage:
        """The message as bytes, after checking every header-bound field.

        :raises FieldValueError: naming the field (``to``, ``subject``, ``sender``,
            ``reply_to``, ``reference``) that is invalid or would break a header.
        """
        settings = self._settings
        recipient = normalize_address("to", message.to)
        sender = normalize_address("sender", message.sender) if message.sender else None
        reply_to = (
            normalize_address("reply_to", message.reply_to)
            if message.reply_to
            else settings.reply_to
        )
        subject = check_header_text(
            "subject", message.subject if message.subject else settings.default_subject
        )
        reference = check_header_text("reference", message.reference)
        if len(reference) > _MAX_REFERENCE:
            raise FieldValueError("reference", f"is longer than {_MAX_REFERENCE} characters")

        from_address = sender or settings.from_address
        message_id = make_msgid(domain=from_address.rpartition("@")[2])
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = Address(display_name=settings.from_name, addr_spec=from_address)
        msg["To"] = recipient
        if reply_to:
            msg["Reply-To"] = reply_to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = message_id
        if reference:
            msg[REFERENCE_HEADER] = reference
        # RFC 3834: tells auto-responders (out-of-office) not to answer a notification.
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(message.body)
        if message.html_body:
            msg.add_alternative(message.html_body, subtype="html")
            for part in msg.iter_parts():
                del part["MIME-Version"]  # add_alternative copies it into the parts
        content = msg.as_bytes()
        check_headers_intact(content, list(msg.keys()))
        return ComposedMessage(
            message_id=message_id,
            envelope_sender=settings.return_path or from_address,
            recipient=recipient,
            content=content,
        )


def check_headers_intact(content: bytes, expected: list[str]) -> None:
    """Refuse a message whose serialised header block differs from the headers set.

    A second line of defence against header injection through the serialiser
    (CVE-2024-6923): every line end in the header block must be CRLF and the
    header names must be exactly those the message was built with.
    """
    block = content.split(b"\r\n\r\n", 1)[0]
    lines = _LINE_END.split(block)
    if len(lines) != block.count(b"\r\n") + 1:
        raise FieldValueError("headers", "serialised with a bare CR or LF; refused")
    names = Counter(
        line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        for line in lines
        if line and line[:1] not in (b" ", b"\t")
    )
    if names != Counter(name.lower() for name in expected):
        raise FieldValueError("headers", "serialised with headers that were not set; refused")
