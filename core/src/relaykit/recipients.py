"""Recipients, staff users, and which phone number a message goes to.

The phone rule (SS&E SMS configuration):

1. an SMS-**enabled** number, the most recently verified first;
2. else a number in **default** SMS status whose type is the tenant's default
   SMS phone type - only when the tenant's default status for this kind of
   recipient is "opted in" - most recently verified first;
3. **disabled** and opted-out numbers are never used.

Ties and missing verification dates resolve the same way every time:
verified numbers before unverified ones, then by the E.164 text.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from relaykit.phones import InvalidPhoneNumber, normalize_phone
from relaykit.policy import SmsPolicy

__all__ = ["PhoneChoice", "PhoneNumber", "Recipient", "StaffUser", "choose_phone", "phone_numbers"]

_MODEL = ConfigDict(extra="forbid", frozen=True)


class PhoneNumber(BaseModel):
    """One of a recipient's numbers, as the platform knows it."""

    model_config = _MODEL

    number: str
    type: str = "mobile"
    sms_status: Literal["enabled", "disabled", "default"] = "default"
    verified_at: date | datetime | None = None


class Recipient(BaseModel):
    """The person a notification is for."""

    model_config = _MODEL

    id: str = Field(min_length=1)
    kind: str = "student"
    name: str = ""
    email: str | None = None
    phones: tuple[PhoneNumber, ...] = ()


class StaffUser(BaseModel):
    """The staff user sending a two-way SMS."""

    model_config = _MODEL

    id: str = Field(min_length=1)
    role: str
    kind: str = "staff"
    name: str = ""
    email: str | None = None


@dataclass(frozen=True)
class PhoneChoice:
    """The chosen number (E.164), or why there is none.

    :ivar opted_out: no number was chosen and at least one was passed over
        only because it opted out.
    """

    number: str | None
    reason: str = ""
    opted_out: bool = False


def phone_numbers(recipient: Recipient, region: str | None) -> list[str]:
    """All of a recipient's numbers that normalise to E.164 (invalid ones are left out)."""
    numbers = []
    for phone in recipient.phones:
        try:
            numbers.append(normalize_phone(phone.number, region))
        except InvalidPhoneNumber:
            continue
    return numbers


def choose_phone(
    recipient: Recipient, policy: SmsPolicy, opted_out: Collection[str]
) -> PhoneChoice:
    """Apply the phone rule; ``opted_out`` holds E.164 numbers from the opt-out registry."""
    usable: list[tuple[PhoneNumber, str]] = []
    notes: list[str] = []
    excluded_by_optout = False
    for phone in recipient.phones:
        try:
            e164 = normalize_phone(phone.number, policy.default_region)
        except InvalidPhoneNumber as exc:
            notes.append(str(exc))
            continue
        if phone.sms_status == "disabled":
            notes.append(f"{e164} is SMS-disabled")
        elif e164 in opted_out:
            notes.append(f"{e164} opted out")
            excluded_by_optout = True
        else:
            usable.append((phone, e164))

    enabled = [(p, n) for p, n in usable if p.sms_status == "enabled"]
    if enabled:
        return PhoneChoice(_latest_verified(enabled))
    default_in = policy.default_status.get(recipient.kind, "opted_out") == "opted_in"
    defaults = [
        (p, n)
        for p, n in usable
        if p.sms_status == "default" and p.type == policy.default_phone_type
    ]
    if defaults and default_in:
        return PhoneChoice(_latest_verified(defaults))
    if defaults:
        notes.append(f"numbers in default status count as opted out for {recipient.kind}")
    elif any(p.sms_status == "default" for p, _ in usable):
        notes.append(f"no {policy.default_phone_type} number in default status")
    if not recipient.phones:
        notes.append("no phone numbers")
    return PhoneChoice(None, "; ".join(notes) or "no usable number", opted_out=excluded_by_optout)


def _latest_verified(candidates: list[tuple[PhoneNumber, str]]) -> str:
    by_number = sorted(candidates, key=lambda candidate: candidate[1])
    # max() keeps the first of equal keys: among ties, the lowest E.164 wins
    return max(by_number, key=lambda candidate: _verified_key(candidate[0]))[1]


def _verified_key(phone: PhoneNumber) -> datetime:
    verified = phone.verified_at
    if verified is None:
        return datetime.min
    if isinstance(verified, datetime):
        return verified.astimezone(UTC).replace(tzinfo=None) if verified.tzinfo else verified
    return datetime(verified.year, verified.month, verified.day)
