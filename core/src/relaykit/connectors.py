"""What a connector is (the ``Connector`` protocol) and the registry the host looks them up in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from relaykit.addresses import BUILTIN_ADDRESS_KINDS
from relaykit.connector_settings import ConnectorSettings
from relaykit.errors import DuplicateConnectorError, UnknownConnectorError
from relaykit.results import (
    CallbackOutcome,
    CallbackRequest,
    Channel,
    ConnectionStatus,
    OutboundMessage,
    ProviderTemplate,
    SendReceipt,
    StatusUpdate,
)
from relaykit.spec import ConnectorSpec

__all__ = [
    "CONTRACT_VERSION",
    "Connector",
    "ConnectorRegistry",
    "InstanceConfig",
    "RegisteredConnector",
    "SupportsReconcile",
    "address_kind_problem",
    "contract_version_problem",
]

#: The version of the connector contract (``relaykit.contract``) this host implements.
#: The major number changes when a connector written for the old one would break; a
#: connector declares the version it was written for as ``contract_version``.
CONTRACT_VERSION = "1.0"


@dataclass(frozen=True)
class InstanceConfig:
    """Everything one configured instance of a connector is built from.

    :ivar tenant: the tenant the instance belongs to (``north-high``).
    :ivar name: the instance's name within the tenant (``sms``).
    :ivar settings: the instance's settings, already validated against the
        connector's ``settings_schema``; secret values are
        :class:`pydantic.SecretStr` (call ``.get_secret_value()`` where the
        provider needs it, and nowhere else).
    :ivar callback_base_url: the public URL under which this instance's
        webhooks are reachable, ``{public_base_url}/webhooks/{tenant}/{name}``;
        append ``/{kind}``. ``None`` when no public base URL is configured.
    :ivar extra_senders: senders the host will pass as
        ``OutboundMessage.sender`` besides the instance's own (the tenant's
        ``two_way.sender_pool`` when ``two_way.instance`` names this
        instance); ``authenticate`` should check them too.
    :ivar parsed_settings: for a connector declaring ``settings_model``, the
        settings as that model, parsed once by the host with every default
        filled in (``settings`` then holds those defaults too). Read it with
        ``YourSettings.from_config(config)``, which also parses an
        ``InstanceConfig`` built by hand. ``None`` for other connectors.
    """

    tenant: str
    name: str
    connector: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    callback_base_url: str | None = None
    extra_senders: tuple[str, ...] = ()
    parsed_settings: ConnectorSettings | None = None

    @property
    def label(self) -> str:
        """``tenant/instance``, as the CLI and logs name it."""
        return f"{self.tenant}/{self.name}"

    def callback_url(self, kind: str) -> str | None:
        """The public URL of this instance's webhook of ``kind``."""
        return f"{self.callback_base_url}/{kind}" if self.callback_base_url else None

    def __repr__(self) -> str:  # settings may hold secrets: keep them out of reprs
        return f"InstanceConfig({self.label!r}, connector={self.connector!r})"


@runtime_checkable
class Connector(Protocol):
    """A configured connection to one provider account: what every connector class implements.

    The class is registered once (see ``register_connectors``); the host builds
    one object per configured instance with ``ConnectorClass(config)``. The
    constructor must not do I/O or import the provider's SDK; do that lazily on
    first use so that discovering connectors stays cheap.

    The methods are called by the host through the hooks of the same name,
    which lets middleware plugins wrap them; a connector never implements those
    hooks itself.

    A connector class should also declare ``contract_version = "1.0"``: the
    contract version (:data:`CONTRACT_VERSION`) it was written for. The host
    refuses one whose major number differs from its own; a class without the
    attribute is taken as written for ``1.x``. (It is not a protocol member, so
    that connectors written before it existed still match the protocol.)

    It may declare ``settings_model``, a :class:`~relaykit.contract.ConnectorSettings`
    subclass: the one declaration of its settings (see docs/connector-settings.md).
    Without one, the host validates settings with the shipped spec's
    ``settings_schema`` alone.

    The data-field mapping is the spec's ``data_fields`` (``spec().fields()``);
    the ``describe_fields`` hook returns it. A ``describe_fields`` classmethod
    that older connectors define is no longer called.

    A connector serving a channel with an address kind of its own (a pager's
    ``pager_id``) also implements ``normalize_address``
    (:class:`relaykit.addresses.SupportsAddresses`); the host refuses it at
    load otherwise.
    """

    #: unique connector name; equals the entry-point name and the spec's ``id``.
    name: ClassVar[str]

    config: InstanceConfig

    def __init__(self, config: InstanceConfig) -> None: ...

    @classmethod
    def spec(cls) -> ConnectorSpec:
        """The connector's spec document (usually ``load_spec_resource(__package__)``)."""
        ...

    async def authenticate(self) -> ConnectionStatus:
        """Check credentials and every sender with the provider; never raise for a bad setup."""
        ...

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Hand one message to the provider, or raise a ``ConnectorError`` subclass."""
        ...

    async def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        """Verify and normalise one webhook request."""
        ...

    async def aclose(self) -> None:
        """Release clients and connections; the instance is not used afterwards."""
        ...


@runtime_checkable
class SupportsReconcile(Protocol):
    """Optional: a connector that can look up what it sent, for crash and timeout recovery."""

    async def find_sent(
        self,
        to: str,
        reference: str,
        since: datetime,
        *,
        body: str | None = None,
        sender: str | None = None,
        channel: Channel | None = None,
        template: ProviderTemplate | None = None,
    ) -> SendReceipt | None:
        """The message sent to ``to`` since ``since`` (carrying ``reference``, or this
        ``body`` from this ``sender`` where the provider cannot echo references), if the
        provider has it; ``None`` if it has not.

        ``template`` is passed only for a message sent as a provider template
        (``OutboundMessage.template``), so a connector that sends none may leave it out;
        ``body`` is then the host's text, not what the provider stored.

        :raises AmbiguousSendError: several records match and none can be told apart.
        """
        ...

    async def fetch_status(self, provider_message_id: str) -> StatusUpdate:
        """The provider's current status of a message (for the stuck-status sweeper)."""
        ...


def contract_version_problem(name: str, declared: object) -> str | None:
    """Why connector ``name`` declaring ``declared`` cannot load here, or ``None`` if it can.

    Compatible means the same major number as :data:`CONTRACT_VERSION`; a minor
    number only adds to the contract, so any is accepted. ``None`` declared (no
    attribute) counts as ``1.x``, the contract before versions were declared.
    """
    host_major = CONTRACT_VERSION.split(".")[0]
    if declared is None:
        declared_major = "1"
    elif isinstance(declared, str) and re.fullmatch(r"\d+\.\d+", declared):
        declared_major = declared.split(".")[0]
    else:
        return (
            f"connector {name!r} declares contract_version {declared!r}; "
            f"it must be a 'MAJOR.MINOR' string such as {CONTRACT_VERSION!r}"
        )
    if declared_major == host_major:
        return None
    return (
        f"connector {name!r} was written for connector contract {declared}, but this "
        f"relaykit implements contract {CONTRACT_VERSION}; install a version of the connector "
        f"written for contract {host_major}.x, or a relaykit implementing contract "
        f"{declared_major}.x"
    )


def address_kind_problem(name: str, spec: ConnectorSpec, connector_class: type) -> str | None:
    """Why connector ``name`` cannot serve the channels its spec declares, or ``None``.

    A shipped channel needs its own address kind (phone for sms and whatsapp,
    email for email): the phone rule's number is all an SMS connector ever
    gets. A custom address kind needs the connector's ``normalize_address``
    classmethod (:class:`relaykit.addresses.SupportsAddresses`), since only the
    connector knows what such an address looks like.
    """
    for declared in spec.declared_channels:
        channel, kind = declared.kind, declared.address_kind
        builtin = BUILTIN_ADDRESS_KINDS.get(channel)
        if builtin is not None and kind != builtin:
            return (
                f"connector {name!r} declares channel {channel.value!r} with address kind "
                f"{kind.value!r}, but {channel.value} messages go to a {builtin.value} address; "
                f"declare {channel.value!r} with address kind {builtin.value!r}, or serve a "
                f'channel of your own: {{"kind": "...", "address_kind": "{kind.value}"}}'
            )
        if not kind.is_well_known and not callable(
            getattr(connector_class, "normalize_address", None)
        ):
            return (
                f"connector {name!r} declares channel {channel.value!r} with address kind "
                f"{kind.value!r}, which relaykit cannot validate, and has no normalize_address "
                f"classmethod; add normalize_address(cls, kind, raw) -> str raising "
                f"InvalidAddressError (relaykit.contract), or use address kind 'phone' or 'email'"
            )
    return None


@dataclass(frozen=True)
class RegisteredConnector:
    """A connector class as the registry knows it: where it came from and its validated spec."""

    name: str
    connector_class: type[Connector]
    spec: ConnectorSpec
    plugin_name: str
    distribution: str
    version: str


class ConnectorRegistry:
    """Connector classes by name, as plugins registered them."""

    def __init__(self) -> None:
        self._by_name: dict[str, RegisteredConnector] = {}

    def add(self, entry: RegisteredConnector) -> None:
        """Add a connector; a name already taken is an error naming both distributions."""
        existing = self._by_name.get(entry.name)
        if existing is not None and existing.connector_class is not entry.connector_class:
            raise DuplicateConnectorError(
                f"connector name {entry.name!r} is registered by both "
                f"{existing.distribution!r} and {entry.distribution!r}; uninstall one of them"
            )
        self._by_name[entry.name] = entry

    def remove_plugin(self, plugin_name: str) -> None:
        """Forget every connector a plugin registered (used when its registration fails)."""
        for name in [n for n, e in self._by_name.items() if e.plugin_name == plugin_name]:
            del self._by_name[name]

    def get(self, name: str) -> RegisteredConnector:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise UnknownConnectorError(
                f"no connector named {name!r} is installed (installed: {known})"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[RegisteredConnector]:
        return iter(sorted(self._by_name.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._by_name)


#: The callback a ``register_connectors`` implementation receives.
RegisterConnector = Callable[[type[Connector]], None]
