"""Checks for values that end up in a message header or the SMTP envelope.

Python 3.11.7's ``email`` package is open to CVE-2024-6923: an RFC 2047
encoded word that decodes to a line break (``Hi=?UTF-8?Q?=0A?=Bcc: x@y``) is
written out as a real line break, which injects a header, and a trailing
``\\n`` is accepted silently. So every header-bound value is checked here,
before a message is built: no line break of any kind (CR, LF, VT, FF, NEL,
U+2028, U+2029, the file/group/record separators) and no other control
character, neither in the text nor inside any encoded word it contains.
"""

from __future__ import annotations

import re
import unicodedata
from email.header import decode_header
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email_validator import ValidatedEmail

__all__ = ["FieldValueError", "check_header_text", "normalize_address"]

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
#: Encoded words can nest (an encoded word whose text is another encoded word).
_MAX_DECODE_DEPTH = 4


class FieldValueError(ValueError):
    """A header-bound value is unsafe or invalid; ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


def check_header_text(field: str, value: str) -> str:
    """Return ``value`` if it is safe in a header, else raise :class:`FieldValueError`.

    The value is never echoed in the error: only the offending code point.
    """
    text = value
    for depth in range(_MAX_DECODE_DEPTH):
        _refuse_controls(field, text, decoded=depth > 0)
        if not _ENCODED_WORD.search(text):
            return value
        text = _decode_encoded_words(field, text)
    raise FieldValueError(field, "nests RFC 2047 encoded words too deeply; send it as plain text")


def _refuse_controls(field: str, text: str, *, decoded: bool) -> None:
    for char in text:
        if char == "\t":
            continue
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            kind = "a line break" if char in _LINE_BREAKS else "a control character"
            where = " inside an RFC 2047 encoded word" if decoded else ""
            raise FieldValueError(
                field,
                f"contains {kind} (U+{ord(char):04X}){where}; header values must be one line",
            )


_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def _decode_encoded_words(field: str, text: str) -> str:
    def decode(match: re.Match[str]) -> str:
        try:
            (payload, charset), *_ = decode_header(match.group(0))
            if isinstance(payload, str):
                return payload
            return str(bytes(payload).decode(str(charset or "ascii")))
        except (LookupError, ValueError) as exc:  # unknown charset, bad base64/bytes
            raise FieldValueError(
                field, "contains an RFC 2047 encoded word that does not decode"
            ) from exc

    return _ENCODED_WORD.sub(decode, text)


def normalize_address(field: str, value: str) -> str:
    """A bare address, syntax-checked (no DNS) and in ASCII form (IDNA domain).

    :raises FieldValueError: naming ``field`` and what is wrong with it.
    """
    check_header_text(field, value)
    from email_validator import EmailNotValidError

    try:
        result = _validate(value.strip())
    except EmailNotValidError as exc:
        raise FieldValueError(field, f"is not a valid email address: {exc}") from None
    if not result.ascii_email:  # pragma: no cover - allow_smtputf8=False guarantees it
        raise FieldValueError(field, "needs SMTPUTF8, which relaykit does not use")
    return result.ascii_email


def _validate(address: str) -> ValidatedEmail:
    from email_validator import validate_email

    # Syntax only: no DNS on the hot path; no SMTPUTF8 so every address has an ASCII form.
    return validate_email(
        address, check_deliverability=False, allow_smtputf8=False, allow_display_name=False
    )
