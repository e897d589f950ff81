"""Address kinds: what a channel's messages are addressed to, and who normalises them.

relaykit knows two address kinds: ``phone`` (E.164, chosen by the phone rule
of :mod:`relaykit.recipients`) and ``email`` (the recipient's ``email``). A
connector may declare its own (``pager_id``) for a channel it serves; it then
validates and normalises those addresses itself, in the optional classmethod
:meth:`SupportsAddresses.normalize_address`, and the host takes them from the
recipient's ``contacts`` of that kind.

A connector only ever receives, as ``OutboundMessage.to``, an address of the
kind it declared for the message's channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Protocol, runtime_checkable

from relaykit._kinds import Kind
from relaykit.errors import RelaykitError
from relaykit.results import Channel

__all__ = [
    "BUILTIN_ADDRESS_KINDS",
    "AddressKind",
    "DeclaredChannel",
    "InvalidAddressError",
    "SupportsAddresses",
]


class AddressKind(Kind):
    """A kind of address: ``AddressKind.PHONE``, ``AddressKind.EMAIL``, or a connector's own."""

    __slots__ = ()
    what: ClassVar[str] = "address kind"

    PHONE: ClassVar[AddressKind]
    EMAIL: ClassVar[AddressKind]


AddressKind.PHONE = AddressKind._define("phone")
AddressKind.EMAIL = AddressKind._define("email")

#: The address kind of each channel relaykit ships; a connector serving one of them
#: may declare only this kind for it.
BUILTIN_ADDRESS_KINDS: Final[Mapping[Channel, AddressKind]] = {
    Channel.SMS: AddressKind.PHONE,
    Channel.WHATSAPP: AddressKind.PHONE,
    Channel.EMAIL: AddressKind.EMAIL,
}


class InvalidAddressError(RelaykitError, ValueError):
    """An address is not valid for its kind; the message says why (``not PG- and 6 digits``).

    Raised by a connector's ``normalize_address``; the host then passes over that
    contact, as it passes over an invalid phone number.
    """


@dataclass(frozen=True, slots=True)
class DeclaredChannel:
    """A channel kind a connector's spec declares, and the address kind its messages need.

    :ivar kind: the channel kind (``sms``, ``pager``).
    :ivar address_kind: what ``OutboundMessage.to`` holds on this channel.
    :ivar description: what the channel is, for ``relaykit connectors describe``.
    :ivar example: a valid address of ``address_kind``, for the conformance checks.
    """

    kind: Channel
    address_kind: AddressKind
    description: str = ""
    example: str = ""

    @property
    def is_builtin_kind(self) -> bool:
        """True when relaykit itself finds and normalises the addresses (phone, email)."""
        return self.address_kind.is_well_known


@runtime_checkable
class SupportsAddresses(Protocol):
    """Optional: a connector class that normalises the address kinds it declares itself."""

    @classmethod
    def normalize_address(cls, kind: AddressKind, raw: str) -> str:
        """The address ``raw`` of ``kind`` as the provider wants it (``"pg-012345"`` ->
        ``"PG-012345"``).

        Called by the host, not through a hook (it does no I/O and is not
        wrapped by middleware), for every contact of a custom address kind the
        connector declares, before the contact is chosen.

        :param kind: one of the address kinds the connector's spec declares.
        :param raw: the contact's address as the platform stored it.
        :returns: the normalised address; it becomes ``OutboundMessage.to``.
        :raises InvalidAddressError: ``raw`` is not an address of ``kind``; the
            message says why. The host passes over that contact.
        """
        ...
