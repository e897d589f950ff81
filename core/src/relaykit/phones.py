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

import enum
import functools
import re
from dataclasses import dataclass

import phonenumbers

__all__ = [
    "InvalidPhoneNumber",
    "NumberProblem",
    "ValidNumber",
    "normalize_phone",
    "parse_valid",
    "region_of",
]

_PREFIXES = ("tel:", "sms:", "whatsapp:")
#: E.164 as written by machines: ``+``, then 7 to 15 digits, the first not 0.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
#: Validated E.164 numbers, at most this many remembered (then forgotten all at once); the
#: parse and normalisation caches hold as many. Enough for a number the planner parsed to
#: be found again when its message is sent (a broadcast sends within ~1,500 recipients of
#: planning); the three cost ~0.55 kB per number together, so a larger limit is tens of MB
#: of RSS once a broadcast of distinct numbers has filled them (65,536: ~34 MiB).
_KNOWN_LIMIT = 8192


class NumberProblem(enum.Enum):
    """Why :func:`parse_valid` refused a number."""

    UNPARSEABLE = "unparseable"
    EXTENSION = "extension"
    INVALID = "invalid"


class InvalidPhoneNumber(ValueError):
    """A phone number that cannot be used, with the reason.

    :ivar problem: what is wrong, for callers that word their own message.
    :ivar cause: phonenumbers' parse error, for an unparseable number.
    """

    def __init__(
        self,
        message: str,
        problem: NumberProblem = NumberProblem.INVALID,
        cause: phonenumbers.NumberParseException | None = None,
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.cause = cause


@dataclass(frozen=True, slots=True)
class ValidNumber:
    """A valid phone number: its E.164 form and ISO region (``None`` for non-geographic ones)."""

    e164: str
    region: str | None


#: E.164 form -> the number, for every number validated so far. Parsing an E.164 string gives
#: back the same number, so the planner's parse of a recipient answers the connector's too.
_known: dict[str, ValidNumber] = {}


def parse_valid(text: str, region: str | None = None) -> ValidNumber:
    """``text`` (no channel prefix) as a valid number; ``region`` reads numbers without ``+``.

    A pure function, cached: every E.164 number it has validated is answered
    without parsing again, whatever form it was first read in.

    :raises InvalidPhoneNumber: with :attr:`~InvalidPhoneNumber.problem` saying why.
    """
    known = _known.get(text)
    if known is not None:
        return known
    return _parse_valid(text, None if text.startswith("+") else region)


@functools.lru_cache(maxsize=_KNOWN_LIMIT)
def _parse_valid(text: str, region: str | None) -> ValidNumber:
    read_fast = _read_e164(text)
    if read_fast is not None:
        valid = _valid(read_fast)
        if valid is not None and valid.e164 == text:
            return _remember(valid)
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(str(exc), NumberProblem.UNPARSEABLE, exc) from None
    if parsed.extension:
        raise InvalidPhoneNumber("has an extension", NumberProblem.EXTENSION)
    valid = _valid(parsed)
    if valid is None:
        raise InvalidPhoneNumber("is not a valid phone number", NumberProblem.INVALID)
    return _remember(valid)


def _read_e164(text: str) -> phonenumbers.PhoneNumber | None:
    """``+`` and digits split into country code and national number, without
    ``phonenumbers.parse`` (three quarters of a valid number's cost, ~17 us); ``None``
    for anything else. Only a number that is then valid and formats back to ``text``
    exactly is taken this way: for those, ``parse`` gives the same number."""
    if not _E164.fullmatch(text):
        return None
    digits = text[1:]
    for size in (1, 2, 3):
        if int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if national.startswith("0"):  # Italian leading zeros: parse knows them
                return None
            return phonenumbers.PhoneNumber(
                country_code=int(digits[:size]), national_number=int(national)
            )
    return None


def _valid(parsed: phonenumbers.PhoneNumber) -> ValidNumber | None:
    # is_valid_number() looks the region up itself; for +1 that lookup tries every NANP
    # region and is most of the cost, so do it once and keep it.
    number_region = phonenumbers.region_code_for_number(parsed)
    if number_region is None or not phonenumbers.is_valid_number_for_region(parsed, number_region):
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return ValidNumber(e164, number_region if number_region.isalpha() else None)


def _remember(valid: ValidNumber) -> ValidNumber:
    if len(_known) >= _KNOWN_LIMIT:
        _known.clear()
    _known[valid.e164] = valid
    return valid


@functools.lru_cache(maxsize=_KNOWN_LIMIT)
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
        return parse_valid(text, default_region).e164
    except InvalidPhoneNumber as exc:
        if exc.problem is NumberProblem.UNPARSEABLE:
            assert exc.cause is not None
            hint = (
                ""
                if default_region or text.startswith("+")
                else " (write it with + and the country code)"
            )
            message = f"{raw!r} is not a phone number: {exc.cause._msg}{hint}"
        elif exc.problem is NumberProblem.EXTENSION:
            message = f"{raw!r} has an extension; SMS cannot reach an extension"
        else:
            message = f"{raw!r} is not a valid phone number"
        raise InvalidPhoneNumber(message, exc.problem, exc.cause) from None


def region_of(e164: str) -> str | None:
    """The ISO region (``GB``) of an E.164 number, if it has one."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
