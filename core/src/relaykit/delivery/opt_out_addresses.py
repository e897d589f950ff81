"""The address an opt-out is kept under: normalised as the channel's address kind needs.

The planner compares a step's chosen address with the opt-out registry's rows
for the step's channel kind, so an opt-out entered by hand must be stored the
way the planner normalises: E.164 for phones, lower-case for email, and the
connector's own ``normalize_address`` for a kind it declares.
"""

from __future__ import annotations

from relaykit.addresses import BUILTIN_ADDRESS_KINDS, AddressKind, InvalidAddressError
from relaykit.delivery.addresses import ConnectorAddressBook
from relaykit.host import ConnectorHost
from relaykit.phones import InvalidPhoneNumber, normalize_phone
from relaykit.results import Channel

__all__ = ["opt_out_address"]


def opt_out_address(host: ConnectorHost, tenant: str, channel: str, raw: str) -> str:
    """``raw`` as an opt-out of ``tenant`` on ``channel`` is stored.

    :raises ValueError: the channel kind is malformed, no instance of the tenant
        serves a declared channel, or ``raw`` is not an address of its kind; the
        message says which and what to do.
    """
    kind_of_channel = Channel(channel)
    settings = host.settings.tenant(tenant)
    kind = BUILTIN_ADDRESS_KINDS.get(kind_of_channel)
    if kind == AddressKind.EMAIL:
        return raw.strip().lower()
    if kind == AddressKind.PHONE:
        try:
            return normalize_phone(raw, settings.sms.default_region)
        except InvalidPhoneNumber as exc:
            raise ValueError(str(exc)) from None
    book = ConnectorAddressBook(host)
    for name in settings.instances:
        label = f"{tenant}/{name}"
        declared = book.address_kind(label, kind_of_channel)
        if declared is None:
            continue
        try:
            if declared == AddressKind.PHONE:
                return normalize_phone(raw, settings.sms.default_region)
            if declared == AddressKind.EMAIL:
                return raw.strip().lower()
            return book.normalize(label, declared, raw)
        except (InvalidAddressError, InvalidPhoneNumber) as exc:
            raise ValueError(f"{raw!r} is not a {declared.value} address: {exc}") from None
    raise ValueError(
        f"no instance of tenant {tenant!r} serves channel {channel!r}: configure an instance "
        "whose connector declares it, or name one of its channels with --channel"
    )
