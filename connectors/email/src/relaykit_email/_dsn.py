"""Reading RFC 3464 delivery-status notifications (bounces) into status updates.

A report is ``multipart/report; report-type=delivery-status`` with a
``message/delivery-status`` part (one per-message block, then one block per
recipient) and usually the returned message or its headers
(``message/rfc822`` or ``text/rfc822-headers``). The original message is
found by its ``Message-ID`` (our receipt's ``provider_message_id``), else by
``Original-Envelope-Id``; its ``X-Relaykit-Reference`` header becomes
``StatusUpdate.reference``.

``Action: failed`` (the MTA gave up: 5.x.x, or 4.x.x after its retries) maps
to ``failed`` with the status code as ``error_code``; ``delivered`` maps to
``delivered``; ``delayed``, ``relayed`` and ``expanded`` say nothing final and
are ignored.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime

from relaykit.contract import CallbackParseError, MessageStatus, StatusUpdate
from relaykit_email._compose import REFERENCE_HEADER

__all__ = ["parse_delivery_report"]

_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
_ACTIONS = {"failed": MessageStatus.FAILED, "delivered": MessageStatus.DELIVERED}
_IGNORED_ACTIONS = frozenset({"delayed", "relayed", "expanded"})


def parse_delivery_report(body: bytes) -> tuple[StatusUpdate, ...]:
    """The status updates an RFC 3464 report carries (possibly none).

    :raises CallbackParseError: not a delivery-status report, no recipient
        block with a known ``Action``, or no way to tell which message it is about.
    """
    # compat32 keeps message/delivery-status blocks as parsed Message objects.
    report = message_from_bytes(body, policy=compat32)
    if report.get_content_type() != "multipart/report" or (
        str(report.get_param("report-type", "")).lower() != "delivery-status"
    ):
        raise CallbackParseError(
            "email: a bounce must be multipart/report; report-type=delivery-status (RFC 3464)"
        )
    payload = report.get_payload()
    parts = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
    if not parts:
        raise CallbackParseError("email: the multipart/report has no parts")
    blocks = _status_blocks(parts)
    per_message, recipients = blocks[0], blocks[1:]
    original = _returned_headers(parts)
    message_id = _header(original, "Message-ID") or _xtext_decode(
        _header(per_message, "Original-Envelope-Id")
    )
    reference = _header(original, REFERENCE_HEADER) or None
    if not message_id and not reference:
        raise CallbackParseError(
            "email: the report names no original Message-ID, Original-Envelope-Id or "
            f"{REFERENCE_HEADER}; ask the gateway to keep the returned headers"
        )
    updates: list[StatusUpdate] = []
    known = 0
    for block in recipients:
        action = _header(block, "Action").lower()
        if action in _IGNORED_ACTIONS:
            known += 1
            continue
        if action not in _ACTIONS:
            continue
        known += 1
        status_code = _header(block, "Status").split(" ", 1)[0]
        if not _STATUS.match(status_code):
            raise CallbackParseError(
                f"email: recipient block has an invalid Status {status_code!r}"
            )
        recipient = _header(block, "Final-Recipient").partition(";")[2].strip()
        diagnostic = _header(block, "Diagnostic-Code").partition(";")[2].strip()
        failed = _ACTIONS[action] is MessageStatus.FAILED
        updates.append(
            StatusUpdate(
                provider_message_id=message_id,
                status=_ACTIONS[action],
                error_code=status_code if failed else None,
                error_message=(diagnostic or None) if failed else None,
                reference=reference,
                dedupe_key=_dedupe_key(message_id, reference, recipient, action, status_code),
                occurred_at=_date(block, "Last-Attempt-Date") or _date(per_message, "Arrival-Date"),
            )
        )
    if not known:
        raise CallbackParseError("email: the report has no recipient block with an Action")
    return tuple(updates)


def _status_blocks(parts: list[Message]) -> list[Message]:
    for part in parts:
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            blocks = (
                [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
            )
            if len(blocks) >= 2:
                return blocks
            break
    raise CallbackParseError(
        "email: the report has no message/delivery-status part with per-recipient fields"
    )


def _returned_headers(parts: list[Message]) -> Message | None:
    for part in parts:
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        elif kind == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                return HeaderParser(policy=compat32).parsestr(text.decode("utf-8", "replace"))
    return None


def _header(block: Message | None, name: str) -> str:
    if block is None:
        return ""
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _xtext_decode(value: str) -> str:
    """RFC 3461 xtext (``+XX`` hex escapes), as ``Original-Envelope-Id`` is written."""
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def _date(block: Message, name: str) -> datetime | None:
    value = _header(block, name)
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _dedupe_key(message_id: str, reference: str | None, *fields: str) -> str:
    digest = hashlib.sha256("\0".join((message_id, reference or "", *fields)).encode())
    return "email-dsn:" + digest.hexdigest()[:32]
