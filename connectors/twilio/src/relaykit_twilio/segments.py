"""How many SMS segments a body takes, and in which encoding (GSM-7 or UCS-2).

The rules follow GSM 03.38 and Twilio's message-segment-calculator
(PITFALLS 15):

* A body made only of GSM-7 characters is sent as GSM-7: one septet per
  character of the basic set, two for the extension set (``^{}\\[~]|€`` and
  form feed), which are sent as ESC + character.
* Any other character makes the whole body UCS-2: one 16-bit unit per
  character, two for characters outside the Basic Multilingual Plane (most
  emoji).
* One segment holds 160 septets or 70 units. Once a body needs more, each
  segment carries a user-data header and holds 153 septets or 67 units, and
  a two-unit character (an escape pair, a surrogate pair) is never split
  across segments.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["MAX_BODY_CHARACTERS", "Encoding", "SegmentCount", "count_segments"]

#: Twilio refuses longer bodies (error 21617).
MAX_BODY_CHARACTERS = 1600

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


class Encoding(enum.StrEnum):
    """The SMS data coding a body is sent with."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """The result of :func:`count_segments`.

    :ivar units: septets (GSM-7) or 16-bit code units (UCS-2) in the body.
    """

    encoding: Encoding
    segments: int
    units: int


_LIMITS = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


def count_segments(body: str) -> SegmentCount:
    """The encoding Twilio will use for ``body`` and the number of segments billed."""
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENSION for c in body):
        encoding = Encoding.GSM7
        sizes = [2 if c in _GSM7_EXTENSION else 1 for c in body]
    else:
        encoding = Encoding.UCS2
        sizes = [2 if ord(c) > 0xFFFF else 1 for c in body]
    total = sum(sizes)
    single, per_part = _LIMITS[encoding]
    if total <= single:
        return SegmentCount(encoding, 1, total)
    segments, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            segments += 1
            used = 0
        used += size
    return SegmentCount(encoding, segments, total)
