"""Who a message comes from: the three sender forms Twilio accepts, with exact reasons for bad ones.

* a phone number in E.164 form (``+15017122661``), sent as ``From``;
* a Messaging Service SID (``MG`` + 32 hex digits), sent as ``MessagingServiceSid``;
* an alphanumeric sender ID (1-11 ASCII letters, digits and spaces, not
  digits only), sent as ``From``; SMS only, and it cannot receive replies.

The settings schema rejects other values already; :func:`sender_problem`
says precisely *why* a value is wrong, so the connector can name the fix.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["Sender", "SenderKind", "parse_sender", "sender_problem"]

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_MESSAGING_SERVICE = re.compile(r"^MG[0-9a-f]{32}$")
_TRUNCATED_SID = re.compile(r"^MG[0-9a-fA-F]{4,}$")
_ALPHANUMERIC_CHARS = re.compile(r"^[A-Za-z0-9 ]+$")
ALPHANUMERIC_MAX = 11
WHATSAPP_PREFIX = "whatsapp:"


class SenderKind(enum.StrEnum):
    """The form a sender takes."""

    PHONE_NUMBER = "phone_number"
    MESSAGING_SERVICE = "messaging_service"
    ALPHANUMERIC = "alphanumeric"


@dataclass(frozen=True, slots=True)
class Sender:
    """A well-formed sender; ``value`` is E.164, an ``MG…`` SID, or the alphanumeric ID."""

    kind: SenderKind
    value: str


def sender_problem(value: str, *, whatsapp: bool = False) -> str | None:
    """Why ``value`` is not a usable sender, in a sentence that names the fix; ``None`` if fine.

    :param whatsapp: check it as a WhatsApp sender (a number, optionally
        written ``whatsapp:+…``, or a Messaging Service; no alphanumeric IDs).
    """
    if whatsapp and value.startswith(WHATSAPP_PREFIX):
        value = value[len(WHATSAPP_PREFIX) :]
    if not value.strip():
        return "is empty; give a Twilio phone number (+15017122661) or a Messaging Service SID"
    if value.startswith("+"):
        if _E164.match(value):
            return None
        return (
            f"{value!r} is not an E.164 phone number: write + then the country code and number, "
            "digits only, 8 to 15 digits in all (e.g. +15017122661)"
        )
    if value.startswith("MG") and (_MESSAGING_SERVICE.match(value) or _TRUNCATED_SID.match(value)):
        if _MESSAGING_SERVICE.match(value):
            return None
        return (
            f"{value!r} looks like a Messaging Service SID but is not MG followed by exactly "
            "32 lower-case hex digits; copy it again from the Twilio Console"
        )
    if whatsapp:
        return (
            f"{value!r} cannot send WhatsApp messages: use the approved WhatsApp number "
            "(whatsapp:+15017122661 or +15017122661) or a Messaging Service SID"
        )
    return _alphanumeric_problem(value)


def _alphanumeric_problem(value: str) -> str | None:
    if value.isdigit():
        if len(value) > 6:  # a phone number written without its +
            return f"{value!r} looks like a phone number: write it in E.164 form with a leading +"
        return (
            f"alphanumeric sender ID {value!r} is digits only; it must contain at least one letter"
        )
    bad = sorted({c for c in value if not _ALPHANUMERIC_CHARS.match(c)})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return (
            f"alphanumeric sender ID {value!r} contains {shown}; "
            "only ASCII letters, digits and spaces are allowed"
        )
    if len(value) > ALPHANUMERIC_MAX:
        return (
            f"alphanumeric sender ID {value!r} is {len(value)} characters; "
            f"at most {ALPHANUMERIC_MAX} are allowed (e.g. {value[:ALPHANUMERIC_MAX].strip()!r})"
        )
    if not any(c.isalpha() for c in value):
        return f"alphanumeric sender ID {value!r} must contain at least one letter"
    return None


def parse_sender(value: str, *, whatsapp: bool = False) -> Sender:
    """The sender ``value`` stands for.

    :raises ValueError: with :func:`sender_problem`'s explanation.
    """
    problem = sender_problem(value, whatsapp=whatsapp)
    if problem is not None:
        raise ValueError(problem)
    if whatsapp and value.startswith(WHATSAPP_PREFIX):
        value = value[len(WHATSAPP_PREFIX) :]
    if value.startswith("+"):
        return Sender(SenderKind.PHONE_NUMBER, value)
    if _MESSAGING_SERVICE.match(value):
        return Sender(SenderKind.MESSAGING_SERVICE, value)
    return Sender(SenderKind.ALPHANUMERIC, value)
