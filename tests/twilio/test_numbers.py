"""Recipient numbers: PITFALLS 14 (phonenumbers' lenient parsing) and E.164 normalisation."""

from __future__ import annotations

import pytest

from relaykit import Channel
from relaykit_twilio.numbers import InvalidNumberError, normalize_number


def test_pitfall_14_double_zero_prefix_with_a_foreign_default_region_is_refused() -> None:
    # phonenumbers reads "00 44 …" with region US as the invalid +1004420…
    with pytest.raises(InvalidNumberError, match=r"'00 44 20 7946 0958' is not a valid phone"):
        normalize_number("00 44 20 7946 0958", Channel.SMS, default_region="US")
    assert normalize_number("00 44 20 7946 0958", Channel.SMS, default_region="GB").e164 == (
        "+442079460958"
    )


def test_pitfall_14_national_numbers_need_a_default_region_or_a_plus() -> None:
    with pytest.raises(InvalidNumberError, match=r"no country code.*default_region"):
        normalize_number("020 7946 0958", Channel.SMS)
    assert normalize_number("020 7946 0958", Channel.SMS, default_region="GB").e164 == (
        "+442079460958"
    )


@pytest.mark.parametrize(
    "raw", ["+1 415 555 2671 ext. 12", "+1 415 555 2671 x12", "tel:+1-415-555-2671;ext=12"]
)
def test_pitfall_14_extensions_are_refused_not_dropped(raw: str) -> None:
    with pytest.raises(InvalidNumberError, match="extension"):
        normalize_number(raw, Channel.SMS)


def test_pitfall_14_channel_prefixes_are_stripped_deliberately() -> None:
    assert normalize_number("whatsapp:+14155552671", Channel.WHATSAPP).e164 == "+14155552671"
    assert normalize_number("tel:+14155552671", Channel.SMS).e164 == "+14155552671"
    with pytest.raises(
        InvalidNumberError, match="is a whatsapp address, but this message goes by sms"
    ):
        normalize_number("whatsapp:+14155552671", Channel.SMS)
    with pytest.raises(
        InvalidNumberError, match="is a tel address, but this message goes by whatsapp"
    ):
        normalize_number("tel:+14155552671", Channel.WHATSAPP)
    with pytest.raises(InvalidNumberError, match="unknown address prefix"):
        normalize_number("skype:+14155552671", Channel.SMS)


@pytest.mark.parametrize(
    "raw",
    [
        "+44 7400 123456",
        "\uff0b\uff14\uff14\uff17\uff14\uff10\uff10\uff11\uff12\uff13\uff14\uff15\uff16",
        "+\u0664\u0664\u0667\u0664\u0660\u0660\u0661\u0662\u0663\u0664\u0665\u0666",
        "(+44) 7400-123-456",
    ],
)
def test_pitfall_14_every_digit_form_normalises_to_one_e164(raw: str) -> None:
    recipient = normalize_number(raw, Channel.SMS)
    assert recipient.e164 == "+447400123456"
    assert recipient.country == "GB"


@pytest.mark.parametrize("raw", ["", "   ", "+1", "+1 415 555", "hello", "+999 123 456 789"])
def test_garbage_is_refused_naming_the_input(raw: str) -> None:
    with pytest.raises(InvalidNumberError) as error:
        normalize_number(raw, Channel.SMS)
    assert repr(raw) in str(error.value)


def test_country_of_the_number_is_reported_for_the_allowed_list() -> None:
    assert normalize_number("+16135550123", Channel.SMS).country == "CA"
    assert normalize_number("+14155552671", Channel.SMS).country == "US"
    assert normalize_number("+80012345678", Channel.SMS).country is None  # non-geographic
