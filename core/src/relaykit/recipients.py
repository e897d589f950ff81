"""Recipients, staff users, and which phone number a message goes to.

The phone rule (SS&E SMS configuration):

1. an SMS-**enabled** number, the most recently verified first;
2. else a number in **default** SMS status whose type is the tenant's default
   SMS phone type - only when the tenant's default status for this kind of
   recipient is "opted in" - most recently verified first;
3. **disabled** and opted-out numbers are never used.

Ties and missing verification dates resolve the same way every time:
verified numbers before unverified ones, then by the E.164 text.

Addresses of a kind a connector declares (a pager's ``pager_id``) are the
recipient's ``contacts`` of that kind; :func:`choose_contact` picks one the
same way: an **enabled** contact first, else one in **default** status, the
most recently verified first; **disabled**, opted-out and invalid ones never.
Phone numbers stay in ``phones`` and the email address in ``email``, where
the seed rules read them: a contact of kind ``phone`` or ``email`` is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from relaykit.addresses import AddressKind, InvalidAddressError
from relaykit.phones import InvalidPhoneNumber, normalize_phone
from relaykit.policy import SmsPolicy

__all__ = [
    "Contact",
    "ContactChoice",
    "PhoneChoice",
    "PhoneNumber",
    "Recipient",
    "StaffUser",
    "choose_contact",
    "choose_phone",
    "contact_addresses",
    "phone_numbers",
]

_MODEL = ConfigDict(extra="forbid", frozen=True)

#: A phone number or a contact.
A = TypeVar("A", "PhoneNumber", "Contact")


class PhoneNumber(BaseModel):
    """One of a recipient's numbers, as the platform knows it."""

    model_config = _MODEL

    number: str
    type: str = "mobile"
    sms_status: Literal["enabled", "disabled", "default"] = "default"
    verified_at: date | datetime | None = None


class Contact(BaseModel):
    """One of a recipient's addresses of a kind a connector declares (``pager_id``).

    :ivar kind: the address kind, as the connector's spec declares it.
    :ivar address: as the platform stores it; the connector normalises it.
    :ivar status: ``enabled`` contacts are used first, ``default`` ones when
        there is none, ``disabled`` ones never.
    :ivar verified_at: among equals, the most recently verified is used.
    :ivar label: what the platform calls it (``"night pager"``), for people.
    """

    model_config = _MODEL

    kind: AddressKind = Field(json_schema_extra={"not": {"enum": ["phone", "email"]}})
    address: str = Field(min_length=1)
    status: Literal["enabled", "disabled", "default"] = "default"
    verified_at: date | datetime | None = None
    label: str = ""

    @field_validator("kind")
    @classmethod
    def _not_a_seed_kind(cls, value: AddressKind) -> AddressKind:
        if value == AddressKind.PHONE:
            raise ValueError(
                "phone numbers go in the recipient's phones, where the phone rule reads them"
            )
        if value == AddressKind.EMAIL:
            raise ValueError("the email address goes in the recipient's email field")
        return value


class Recipient(BaseModel):
    """The person a notification is for.

    :ivar phones: numbers for SMS and WhatsApp, chosen by the phone rule.
    :ivar email: the address for email.
    :ivar contacts: addresses of the kinds connectors declare (``pager_id``).
    """

    model_config = _MODEL

    id: str = Field(min_length=1)
    kind: str = "student"
    name: str = ""
    email: str | None = None
    phones: tuple[PhoneNumber, ...] = ()
    contacts: tuple[Contact, ...] = ()


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


@dataclass(frozen=True)
class ContactChoice:
    """The chosen contact's normalised address, or why there is none.

    :ivar opted_out: none was chosen and at least one was passed over only
        because it opted out.
    :ivar none_of_kind: the recipient has no contact of the kind at all.
    """

    address: str | None
    reason: str = ""
    opted_out: bool = False
    none_of_kind: bool = False


#: ``normalize(raw)``: the address as the connector wants it, or :class:`InvalidAddressError`.
Normalize = Callable[[str], str]


def contact_addresses(recipient: Recipient, kind: AddressKind, normalize: Normalize) -> list[str]:
    """The normalised addresses of the recipient's contacts of ``kind`` (invalid ones left out)."""
    addresses = []
    for contact in recipient.contacts:
        if contact.kind == kind:
            try:
                addresses.append(normalize(contact.address))
            except InvalidAddressError:
                continue
    return addresses


def choose_contact(
    recipient: Recipient, kind: AddressKind, normalize: Normalize, opted_out: Collection[str]
) -> ContactChoice:
    """The best contact of ``kind``: enabled before default, most recently verified first,
    then the lowest address; never a disabled, opted-out or invalid one.

    :param normalize: the connector's ``normalize_address`` for ``kind``.
    :param opted_out: normalised addresses the opt-out registry holds for the channel.
    """
    of_kind = [c for c in recipient.contacts if c.kind == kind]
    if not of_kind:
        return ContactChoice(None, f"no {kind.value} contact", none_of_kind=True)
    usable, notes, excluded_by_optout = _sort_out(
        [(c, c.status, c.address) for c in of_kind],
        normalize,
        opted_out,
        invalid=lambda raw, exc: f"{raw!r} is not a valid {kind.value}: {exc}",
        disabled="is disabled",
    )
    for status in ("enabled", "default"):
        candidates = [(c, a) for c, a in usable if c.status == status]
        if candidates:
            return ContactChoice(_latest_verified(candidates))
    return ContactChoice(None, "; ".join(notes), opted_out=excluded_by_optout)


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
    usable, notes, excluded_by_optout = _sort_out(
        [(p, p.sms_status, p.number) for p in recipient.phones],
        lambda raw: normalize_phone(raw, policy.default_region),
        opted_out,
        invalid=lambda raw, exc: str(exc),
        disabled="is SMS-disabled",
    )

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


def _sort_out(
    addresses: list[tuple[A, str, str]],
    normalize: Normalize,
    opted_out: Collection[str],
    *,
    invalid: Callable[[str, Exception], str],
    disabled: str,
) -> tuple[list[tuple[A, str]], list[str], bool]:
    """Sort ``(item, status, raw address)`` into the usable ones with their normalised
    address, notes on the rest, and whether any was passed over only for an opt-out."""
    usable: list[tuple[A, str]] = []
    notes: list[str] = []
    excluded_by_optout = False
    for item, status, raw in addresses:
        try:
            address = normalize(raw)
        except (InvalidPhoneNumber, InvalidAddressError) as exc:
            notes.append(invalid(raw, exc))
            continue
        if status == "disabled":
            notes.append(f"{address} {disabled}")
        elif address in opted_out:
            notes.append(f"{address} opted out")
            excluded_by_optout = True
        else:
            usable.append((item, address))
    return usable, notes, excluded_by_optout


def _latest_verified(candidates: list[tuple[A, str]]) -> str:
    by_address = sorted(candidates, key=lambda candidate: candidate[1])
    # max() keeps the first of equal keys: among ties, the lowest address wins
    return max(by_address, key=lambda candidate: _verified_key(candidate[0]))[1]


def _verified_key(phone: PhoneNumber | Contact) -> datetime:
    verified = phone.verified_at
    if verified is None:
        return datetime.min
    if isinstance(verified, datetime):
        return verified.astimezone(UTC).replace(tzinfo=None) if verified.tzinfo else verified
    return datetime(verified.year, verified.month, verified.day)
