"""Recipient phone numbers: deliberate prefix handling, E.164 normalisation, destination country.

``phonenumbers`` is lenient in ways that hurt a messaging platform
(PITFALLS 14): it silently drops ``tel:`` and ``whatsapp:`` prefixes and an
``ext. 12`` extension, and with a default region it reads ``00 44 …`` as a
national number of that region. So this module strips exactly the prefixes a
channel allows, refuses extensions, and requires a leading ``+`` unless the
instance names a ``default_region``. The result is always E.164, so opt-outs
and deduplication are keyed on one form whatever digits the input used
(full-width and Arabic-Indic digits normalise to the same number).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from relaykit.contract import Channel

__all__ = ["InvalidNumberError", "Recipient", "normalize_number"]

#: Prefixes a recipient may carry, per channel; stripped on purpose, never silently.
_ALLOWED_PREFIXES: dict[Channel, tuple[str, ...]] = {
    Channel.SMS: ("tel:", "sms:"),
    Channel.WHATSAPP: ("whatsapp:",),
}
_FOREIGN_PREFIXES = ("whatsapp:", "tel:", "sms:", "mailto:", "messenger:", "rcs:")


class InvalidNumberError(ValueError):
    """A recipient that is not a usable phone number; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """A normalised recipient.

    :ivar e164: the number in E.164 form (``+447400123456``).
    :ivar country: its ISO 3166-1 alpha-2 region (``GB``), or ``None`` for
        non-geographic numbers.
    """

    e164: str
    country: str | None


def normalize_number(raw: str, channel: Channel, *, default_region: str | None = None) -> Recipient:
    """Read ``raw`` as a phone number for ``channel`` and return it in E.164 form.

    Results are cached (a recipient usually gets several messages).

    :param default_region: region for numbers written without ``+``; ``None``
        requires ``+`` (or the channel's URI prefix followed by ``+``).
    :raises InvalidNumberError: naming ``raw`` and what to fix.
    """
    return _normalize(raw, channel, default_region)


@lru_cache(maxsize=4096)
def _normalize(raw: str, channel: Channel, default_region: str | None) -> Recipient:
    # relaykit.phones imports phonenumbers (~40 ms): only when a number is actually read
    from relaykit.phones import InvalidPhoneNumber, NumberProblem, parse_valid

    if _is_plain_e164(raw):
        # what the host sends: no prefix, spaces, letters or extension to look for
        text, international = raw, True
    else:
        text = _checked_text(raw, channel)
        international = text.lstrip("( ").startswith("+")
    if not international and default_region is None:
        raise InvalidNumberError(
            f"recipient {raw!r} has no country code: write it in E.164 form with a leading + "
            "(e.g. +447400123456), or set the instance's default_region"
        )
    try:
        # relaykit's parse is cached by E.164: the planner has usually read this number already.
        valid = parse_valid(text, None if international else default_region)
    except InvalidPhoneNumber as exc:
        if exc.problem is NumberProblem.UNPARSEABLE:
            raise InvalidNumberError(
                f"recipient {raw!r} is not a phone number ({exc.cause})"
            ) from None
        if exc.problem is NumberProblem.EXTENSION:
            raise InvalidNumberError(
                f"recipient {raw!r} has an extension; SMS and WhatsApp reach a whole number, "
                "so give it without one"
            ) from None
        hint = (
            f" (read with default region {default_region}; write it with + and the country code)"
            if not international
            else ""
        )
        raise InvalidNumberError(f"recipient {raw!r} is not a valid phone number{hint}") from None
    return Recipient(e164=valid.e164, country=valid.region)


def _is_plain_e164(raw: str) -> bool:
    return raw.startswith("+") and raw.isascii() and raw[1:].isdigit()


def _checked_text(raw: str, channel: Channel) -> str:
    """``raw`` normalised (NFKC), without its channel prefix; refused if empty or extended."""
    text = unicodedata.normalize("NFKC", raw).strip()
    text = _strip_prefix(text, raw, channel)
    if not text:
        raise InvalidNumberError(
            f"recipient {raw!r} is empty; give a phone number such as +15558675310"
        )
    if ";" in text or _has_extension_words(text):
        raise InvalidNumberError(
            f"recipient {raw!r} has an extension or URI parameters; "
            "SMS and WhatsApp reach a whole number, so give it without them"
        )
    return text


def _strip_prefix(text: str, raw: str, channel: Channel) -> str:
    lowered = text.lower()
    for prefix in _ALLOWED_PREFIXES.get(channel, ()):
        if lowered.startswith(prefix):
            return text[len(prefix) :].strip()
    for prefix in _FOREIGN_PREFIXES:
        if lowered.startswith(prefix):
            raise InvalidNumberError(
                f"recipient {raw!r} is a {prefix.rstrip(':')} address, "
                f"but this message goes by {channel.value}"
            )
    if ":" in text:
        raise InvalidNumberError(f"recipient {raw!r} has an unknown address prefix")
    return text


def _has_extension_words(text: str) -> bool:
    # "ext. 12", "x12", "#12", ",12": phonenumbers would drop the extension
    # silently; letters would otherwise be read as a vanity number.
    return any(c.isalpha() or c in "#," for c in text)
