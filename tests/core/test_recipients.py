# ruff: noqa: RUF001 - full-width and Arabic-Indic digits are the point of these tests
"""Phone normalisation (PITFALLS 14) and the phone rule, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit.phones import InvalidPhoneNumber, normalize_phone
from relaykit.policy import SmsPolicy
from relaykit.recipients import Recipient, choose_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("00 44 20 7946 0958", "GB", "+442079460958"),  # 00 prefix parsed in the tenant's region
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("＋４４ ２０ ７９４６ ０９５８", None, "+442079460958"),  # full-width digits
        ("+٤٤٢٠٧٩٤٦٠٩٥٨", None, "+442079460958"),  # Arabic-Indic digits
        ("whatsapp:+15005550006", None, "+15005550006"),  # channel prefix stripped on purpose
        ("tel:+1 500 555 0006", None, "+15005550006"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_numbers_normalise_to_one_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "complaint"),
    [
        ("00 44 20 7946 0958", "US", "not a valid phone number"),  # would be +1004420… if accepted
        ("+44 20 7946 0958 ext. 12", None, "extension"),
        ("020 7946 0958", None, r"write it with \+ and the country code"),
        ("not a number", "GB", "not a phone number"),
    ],
)
def test_unusable_numbers_are_refused_with_the_reason(
    raw: str, region: str | None, complaint: str
) -> None:
    with pytest.raises(InvalidPhoneNumber, match=complaint):
        normalize_phone(raw, region)


def person(*phones: dict[str, Any], kind: str = "student") -> Recipient:
    return Recipient.model_validate({"id": "r1", "kind": kind, "phones": list(phones)})


def p(
    number: str, status: str = "enabled", type: str = "mobile", verified: str | None = None
) -> dict[str, Any]:
    return {"number": number, "sms_status": status, "type": type, "verified_at": verified}


POLICY = SmsPolicy()
RULES = [
    (
        "latest verified enabled number",
        [p("+15005550010", verified="2025-01-01"), p("+15005550011", verified="2025-02-01")],
        "+15005550011",
    ),
    (
        "a verified number beats an unverified one",
        [p("+15005550010"), p("+15005550011", verified="2020-01-01")],
        "+15005550011",
    ),
    ("ties resolve to the lowest E.164", [p("+15005550012"), p("+15005550011")], "+15005550011"),
    (
        "enabled beats a newer default-status number",
        [
            p("+15005550010", verified="2020-01-01"),
            p("+15005550011", "default", verified="2025-01-01"),
        ],
        "+15005550010",
    ),
    (
        "default status only with the default phone type",
        [p("+15005550010", "default", type="home"), p("+15005550011", "default")],
        "+15005550011",
    ),
    (
        "disabled numbers are never used",
        [p("+15005550010", "disabled"), p("+15005550011", "default", type="home")],
        None,
    ),
    (
        "opted-out numbers are skipped",
        [p("+15005550004"), p("+15005550011", verified="2019-01-01")],
        "+15005550011",
    ),
]


@pytest.mark.parametrize(("rule", "phones", "expected"), RULES, ids=[r[0] for r in RULES])
def test_phone_rule(rule: str, phones: list[dict[str, Any]], expected: str | None) -> None:
    assert choose_phone(person(*phones), POLICY, {"+15005550004"}).number == expected


def test_tenant_default_status_applies_per_recipient_kind() -> None:
    numbers = [p("+15005550011", "default")]
    opted_in_staff = SmsPolicy(default_status={"staff": "opted_in"})
    assert choose_phone(person(*numbers, kind="staff"), POLICY, set()).number is None
    assert (
        choose_phone(person(*numbers, kind="staff"), opted_in_staff, set()).number == "+15005550011"
    )


def test_opt_outs_match_whatever_digits_the_number_was_written_in() -> None:
    full_width = person(p("＋１ ５００ ５５５ ０００４"))
    choice = choose_phone(full_width, POLICY, {"+15005550004"})
    assert choice.number is None and choice.opted_out


@pytest.mark.parametrize(("first", "region"), [("020 7946 0958", "GB"), ("+44 20 7946 0958", None)])
def test_a_validated_number_read_again_in_e164_form_is_the_same_number(
    first: str, region: str | None
) -> None:
    from relaykit.phones import ValidNumber, parse_valid

    assert parse_valid(first, region) == ValidNumber("+442079460958", "GB")
    assert parse_valid("+442079460958", "US") == ValidNumber("+442079460958", "GB")
