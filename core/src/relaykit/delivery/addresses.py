"""Which address kind a route step needs, and who normalises it: the planner's view of specs.

The planner asks an :class:`AddressBook` for the address kind the step's
instance declares for the step's channel, and has custom kinds normalised by
that instance's connector. :class:`ConnectorAddressBook` answers from the
installed connectors' specs; :class:`BuiltinAddressBook` knows only the
shipped channels (for a planner built without a connector host).
"""

from __future__ import annotations

from typing import Protocol

from relaykit.addresses import BUILTIN_ADDRESS_KINDS, AddressKind, InvalidAddressError
from relaykit.connectors import RegisteredConnector
from relaykit.errors import RelaykitError, UnknownConnectorError, UnknownInstanceError
from relaykit.host import ConnectorHost
from relaykit.results import Channel

__all__ = ["AddressBook", "BuiltinAddressBook", "ConnectorAddressBook"]


class AddressBook(Protocol):
    """What the planner needs to know of an instance's channels."""

    def address_kind(self, label: str, channel: Channel) -> AddressKind | None:
        """The address kind instance ``label`` (``tenant/instance``) needs on ``channel``;
        ``None`` when its connector does not serve that channel."""
        ...

    def normalize(self, label: str, kind: AddressKind, raw: str) -> str:
        """``raw`` normalised by instance ``label``'s connector.

        :raises InvalidAddressError: not a valid address of ``kind``.
        """
        ...


class BuiltinAddressBook:
    """The shipped channels' address kinds; no channel of any other kind is served."""

    def address_kind(self, label: str, channel: Channel) -> AddressKind | None:
        return BUILTIN_ADDRESS_KINDS.get(channel)

    def normalize(self, label: str, kind: AddressKind, raw: str) -> str:
        raise InvalidAddressError(f"no connector of {label} normalises {kind.value} addresses")


class ConnectorAddressBook:
    """Address kinds as the instances' connectors declare them in their specs.

    A shipped channel that a connector does not list keeps its own address kind
    (connectors need not list every channel they are routed on); a custom
    channel it does not declare is not served.
    """

    def __init__(self, host: ConnectorHost) -> None:
        self.host = host

    def address_kind(self, label: str, channel: Channel) -> AddressKind | None:
        try:
            declared = self._entry(label).spec.address_kind(channel)
        except (UnknownConnectorError, UnknownInstanceError):
            # the send reports the missing connector; planning keeps the shipped kinds
            declared = None
        return declared if declared is not None else BUILTIN_ADDRESS_KINDS.get(channel)

    def normalize(self, label: str, kind: AddressKind, raw: str) -> str:
        entry = self._entry(label)
        normalize = getattr(entry.connector_class, "normalize_address", None)
        if normalize is None:  # refused at load; kept for a class registered otherwise
            raise InvalidAddressError(f"connector {entry.name!r} cannot normalise {kind.value}")
        try:
            address = normalize(kind, raw)
        except InvalidAddressError:
            raise
        except (RelaykitError, ValueError) as exc:
            raise InvalidAddressError(str(exc)) from None
        if not isinstance(address, str) or not address:
            raise InvalidAddressError(f"connector {entry.name!r} normalised {raw!r} to nothing")
        return address

    def _entry(self, label: str) -> RegisteredConnector:
        return self.host.plugins.connectors.get(self.host.resolve(label).connector)
