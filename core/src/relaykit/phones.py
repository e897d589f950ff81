"""Phone numbers to E.164, deliberately (PITFALLS 14).

* ``tel:``, ``sms:`` and ``whatsapp:`` prefixes are stripped on purpose, not by accident.
* A number without ``+`` needs the tenant's region; ``00`` international
  prefixes are parsed in that region too (``00 44 …`` with region US would
  otherwise become ``+1004420…``).
* Extensions are refused: they cannot receive SMS and E.164 drops them silently.
* Full-width and Arabic-Indic digits normalise to the same E.164 - so opt-outs
  and deduplication are keyed on the normalised form.
"""

from __future__ import annotations

import functools

import phonenumbers

__all__ = ["InvalidPhoneNumber", "normalize_phone", "region_of"]

_PREFIXES = ("tel:", "sms:", "whatsapp:")


class InvalidPhoneNumber(ValueError):
    """A phone number that cannot be used, with the reason."""


@functools.lru_cache(maxsize=65536)
def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """``raw`` as E.164 (``+441234567890``).

    :raises InvalidPhoneNumber: naming the number and what is wrong with it.
    """
    text = raw.strip()
    for prefix in _PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        hint = (
            ""
            if default_region or text.startswith("+")
            else " (write it with + and the country code)"
        )
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number: {exc._msg}{hint}") from None
    if parsed.extension:
        raise InvalidPhoneNumber(f"{raw!r} has an extension; SMS cannot reach an extension")
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str) -> str | None:
    """The ISO region (``GB``) of an E.164 number, if it has one."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
