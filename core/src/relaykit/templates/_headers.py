"""Whether a rendered text can go into a one-line email header (the subject)."""

from __future__ import annotations

import unicodedata
from email.errors import HeaderParseError
from email.header import decode_header

__all__ = ["header_problem"]

_SEPARATORS = frozenset("\u2028\u2029")


def _bad_character(text: str) -> str | None:
    for c in text:
        if c in _SEPARATORS or (unicodedata.category(c) == "Cc" and c != "\t"):
            return f"U+{ord(c):04X}"
    return None


def header_problem(value: str) -> str | None:
    """Why ``value`` cannot be a header value, or ``None`` when it can.

    Refuses CR, LF and every other line break or control character, also when
    hidden in an RFC 2047 encoded word (``=?UTF-8?Q?=0A?=``): Python 3.11.7
    serialises such a subject with an injected header (PITFALLS 13).
    """
    found = _bad_character(value)
    if found:
        return f"contains a line break or control character ({found})"
    if "=?" not in value:
        return None
    try:
        chunks = decode_header(value)
        decoded = "".join(
            chunk.decode(charset or "ascii", errors="replace")
            if isinstance(chunk, bytes)
            else chunk
            for chunk, charset in chunks
        )
    except (HeaderParseError, LookupError):
        return "contains a malformed RFC 2047 encoded word"
    found = _bad_character(decoded)
    if found:
        return f"contains an encoded line break or control character ({found})"
    return None
