"""How an SMS body is encoded and how many segments it is billed as.

The rules are GSM 03.38's, checked against Twilio's message-segment-calculator
(PITFALLS 15):

* A body made only of GSM-7 characters goes as GSM-7: one septet for a
  character of the basic set, two for one of the extension table
  (``^{}\\[~]|€`` and form feed), which travel as ESC + character.
* Any other character makes the whole body UCS-2, counted in UTF-16 code
  units: two for a character outside the Basic Multilingual Plane (most emoji).
* A single segment holds 160 septets or 70 units. A longer body is split into
  segments that each carry a concatenation header and hold 153 septets or 67
  units; a two-unit character (an escape pair, a surrogate pair) is never split
  across two segments, so a segment may end one unit short.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "GSM7_EXTENSION",
    "MAX_BODY_CHARACTERS",
    "SegmentCount",
    "SmsEncoding",
    "count_segments",
    "is_gsm7",
]

SmsEncoding = Literal["GSM-7", "UCS-2"]

#: The longest body Twilio accepts, in characters (error 21617 above it).
MAX_BODY_CHARACTERS: Final = 1600

_GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: Characters that cost two septets in GSM-7 (sent as ESC + character).
GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
_GSM7: Final = _GSM7_BASIC | GSM7_EXTENSION

# (units in a lone segment, units per segment once concatenated)
_LIMITS: Final[dict[SmsEncoding, tuple[int, int]]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """What :func:`count_segments` found for one body.

    :ivar segments: segments billed; ``0`` for an empty body.
    :ivar encoding: ``"GSM-7"`` or ``"UCS-2"``.
    :ivar units: septets (GSM-7) or UTF-16 code units (UCS-2) in the body.
    :ivar characters: characters (code points) in the body, the measure of
        :data:`MAX_BODY_CHARACTERS`.
    """

    segments: int
    encoding: SmsEncoding
    units: int
    characters: int

    @property
    def over_maximum(self) -> bool:
        """True when the provider will refuse the body as too long."""
        return self.characters > MAX_BODY_CHARACTERS


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM-7 basic set or extension table."""
    return _GSM7.issuperset(text)


@functools.lru_cache(maxsize=1024)  # the planner and the connector count the same body
def count_segments(text: str) -> SegmentCount:
    """The encoding ``text`` is sent with and the number of segments it is billed as."""
    encoding: SmsEncoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    # Characters that take two units: the extension table's (GSM-7), or astral ones (UCS-2).
    if encoding == "GSM-7":
        units = len(text) + sum(text.count(c) for c in GSM7_EXTENSION)
    else:
        units = len(text) + sum(ord(c) > 0xFFFF for c in text)
    single, per_segment = _LIMITS[encoding]
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        if encoding == "GSM-7":
            sizes = [2 if c in GSM7_EXTENSION else 1 for c in text]
        else:
            sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
        segments, used = 1, 0
        for size in sizes:
            if used + size > per_segment:
                segments += 1
                used = 0
            used += size
    return SegmentCount(segments=segments, encoding=encoding, units=units, characters=len(text))
