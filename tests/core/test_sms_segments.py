"""SMS segment counting: encoding choice, septet/unit counts, segment boundaries."""

from __future__ import annotations

import pytest

from relaykit.sms import MAX_BODY_CHARACTERS, SegmentCount, count_segments

EMOJI = "😜"
CYRILLIC = "ж"  # outside GSM-7, one UTF-16 unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("{" + "a" * 158, SegmentCount(1, "GSM-7", 160, 159), id="brace+158-fits-one"),
        pytest.param("{" + "a" * 159, SegmentCount(2, "GSM-7", 161, 160), id="brace+159-needs-two"),
        pytest.param(EMOJI + "a" * 68, SegmentCount(1, "UCS-2", 70, 69), id="emoji+68-fits-one"),
        pytest.param(EMOJI + "a" * 69, SegmentCount(2, "UCS-2", 71, 70), id="emoji+69-needs-two"),
        pytest.param("a" * 307, SegmentCount(3, "GSM-7", 307, 307), id="307-gsm-is-three"),
    ],
)
def test_pitfall_15_twilio_calculator_boundaries(text: str, expected: SegmentCount) -> None:
    assert count_segments(text) == expected


@pytest.mark.parametrize(
    ("text", "segments", "encoding", "units"),
    [
        pytest.param("a" * 160, 1, "GSM-7", 160, id="160-plain-is-one"),
        pytest.param("a" * 161, 2, "GSM-7", 161, id="161-plain-is-two"),
        pytest.param("a" * 306, 2, "GSM-7", 306, id="two-full-concatenated-segments"),
        pytest.param("€" * 80, 1, "GSM-7", 160, id="euro-costs-two-septets"),
        pytest.param("\f", 1, "GSM-7", 2, id="form-feed-costs-two-septets"),
        pytest.param("^{}\\[~]|€", 1, "GSM-7", 18, id="whole-extension-table"),
        pytest.param("Ünïcode", 1, "UCS-2", 7, id="one-non-gsm-char-makes-ucs2"),
        pytest.param("ÄÖÑÜäöñüàèéùìò£¥§¿¡ΔΦΓ", 1, "GSM-7", 22, id="accented-gsm-basic-stays-gsm"),
        pytest.param(CYRILLIC * 70, 1, "UCS-2", 70, id="70-ucs2-is-one"),
        pytest.param(CYRILLIC * 71, 2, "UCS-2", 71, id="71-ucs2-is-two"),
        pytest.param(EMOJI * 35, 1, "UCS-2", 70, id="emoji-is-two-units"),
        pytest.param("Tom & Jerry\r\n", 1, "GSM-7", 13, id="crlf-are-gsm-basic"),
        pytest.param("", 0, "GSM-7", 0, id="empty-is-no-segment"),
    ],
)
def test_encoding_units_and_segments(text: str, segments: int, encoding: str, units: int) -> None:
    count = count_segments(text)

    assert (count.segments, count.encoding, count.units) == (segments, encoding, units)


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        # 152 septets, then an escape pair that would straddle the 153 boundary, then 152 more:
        # 306 septets would fit in two segments if the pair could be split; it cannot.
        pytest.param("a" * 152 + "{" + "a" * 152, 3, id="escape-pair-moves-to-next-segment"),
        pytest.param("a" * 151 + "{" + "a" * 153, 2, id="escape-pair-ending-a-segment-fits"),
        # 66 units, a surrogate pair at units 67-68, 66 more: 134 units = 2 * 67 only if split.
        pytest.param(
            CYRILLIC * 66 + EMOJI + CYRILLIC * 66, 3, id="surrogate-pair-moves-to-next-segment"
        ),
        pytest.param(CYRILLIC * 65 + EMOJI + CYRILLIC * 67, 2, id="surrogate-pair-ending-fits"),
    ],
)
def test_two_unit_characters_are_never_split_across_segments(text: str, segments: int) -> None:
    assert count_segments(text).segments == segments


def test_characters_count_code_points_not_units() -> None:
    count = count_segments(EMOJI * 3)

    assert (count.characters, count.units) == (3, 6)


@pytest.mark.parametrize(
    ("length", "over"), [(MAX_BODY_CHARACTERS, False), (MAX_BODY_CHARACTERS + 1, True)]
)
def test_bodies_over_1600_characters_are_flagged(length: int, over: bool) -> None:
    assert MAX_BODY_CHARACTERS == 1600
    assert count_segments("a" * length).over_maximum is over
