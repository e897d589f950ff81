"""E.164 numbers are read without ``phonenumbers.parse`` when that gives the same answer."""

from __future__ import annotations

import phonenumbers
import pytest

from relaykit import phones
from relaykit.phones import InvalidPhoneNumber, normalize_phone

TYPES = [t for t in vars(phonenumbers.PhoneNumberType).values() if isinstance(t, int)]


def library_answer(text: str) -> str | None:
    """What phonenumbers alone says: the E.164 form of a valid number, else ``None``."""
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def relaykit_answer(text: str) -> str | None:
    """relaykit's answer, read afresh (none of its caches remember the number)."""
    normalize_phone.cache_clear()
    phones._parse_valid.cache_clear()
    phones._known.clear()
    try:
        return normalize_phone(text)
    except InvalidPhoneNumber:
        return None


def example_numbers() -> list[str]:
    """phonenumbers' example number of every type in every region, as E.164, and each with
    one digit more and one less (mostly invalid)."""
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                found |= {e164, e164 + "5", e164[:-1]}
    return sorted(found)


def test_every_example_number_reads_as_the_library_reads_it() -> None:
    numbers = example_numbers()
    assert len(numbers) > 2500  # every region, every type

    disagreeing = [n for n in numbers if relaykit_answer(n) != library_answer(n)]

    assert disagreeing == []
    assert sum(1 for n in numbers if library_answer(n)) > 1000  # valid ones were among them


@pytest.mark.parametrize(
    "text",
    ["+390612345678", "+3903123456789", "+44 7946 000000", "+1 (500) 555-0006", "+15005550006"],
)
def test_numbers_the_fast_path_leaves_to_the_library_read_the_same(text: str) -> None:
    # Italian leading zeros, spaces and punctuation: phonenumbers.parse reads these
    assert relaykit_answer(text) == library_answer(text)
