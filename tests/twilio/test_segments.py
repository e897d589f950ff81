"""Segment counting: PITFALLS 15, the boundaries of Twilio's message-segment-calculator."""

from __future__ import annotations

import pytest

from relaykit_twilio.segments import Encoding, count_segments


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("{" + "a" * 158, Encoding.GSM7, 1),  # 160 septets: '{' costs two
        ("{" + "a" * 159, Encoding.GSM7, 2),
        ("😜" + "a" * 68, Encoding.UCS2, 1),  # 70 units: the emoji is a surrogate pair
        ("😜" + "a" * 69, Encoding.UCS2, 2),
        ("a" * 307, Encoding.GSM7, 3),
        ("a" * 160, Encoding.GSM7, 1),
        ("a" * 161, Encoding.GSM7, 2),
        ("a" * 306, Encoding.GSM7, 2),
        ("ж" * 70, Encoding.UCS2, 1),
        ("ж" * 71, Encoding.UCS2, 2),
        ("ж" * 134, Encoding.UCS2, 2),
        ("ж" * 135, Encoding.UCS2, 3),
    ],
)
def test_pitfall_15_segment_boundaries(body: str, encoding: Encoding, segments: int) -> None:
    count = count_segments(body)
    assert (count.encoding, count.segments) == (encoding, segments)


@pytest.mark.parametrize("char", list("^{}\\[~]|€"))
def test_pitfall_15_each_extension_character_costs_two_septets(char: str) -> None:
    assert count_segments(char * 80).segments == 1
    assert count_segments(char * 81).segments == 2
    assert count_segments(char).units == 2


def test_gsm_basic_accents_stay_gsm_but_others_switch_to_ucs2() -> None:
    assert count_segments("Café à Zürich, ñ").encoding is Encoding.GSM7
    assert count_segments("Caffè ô").encoding is Encoding.UCS2  # ô is not in GSM-7
    assert count_segments("smart \u2019quote\u2019").encoding is Encoding.UCS2


def test_an_escape_pair_is_never_split_across_segments() -> None:
    # 152 septets then '€' (2): the second segment starts with the whole pair.
    body = "a" * 152 + "€" + "a" * 10
    count = count_segments(body)
    assert count.units == 164 and count.segments == 2
    assert count_segments("a" * 152 + "€" + "a" * 152).segments == 3
