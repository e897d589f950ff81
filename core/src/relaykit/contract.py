"""The connector contract: every name a connector author needs, and nothing of the host.

Import a connector's types from here::

    from relaykit.contract import CONTRACT_VERSION, InstanceConfig, SendReceipt, hookimpl

Importing this module loads only the leaf modules the contract is made of
(results, address kinds, errors, the ``Connector`` protocol, hook specifications, spec
documents, sandbox types); it does not load the host (``relaykit.host``,
``relaykit.plugins``, settings, the store, the delivery engine). The host's
API stays in :mod:`relaykit`.

A connector class declares the contract version it was written for::

    class PagerConnector:
        name = "pager"
        contract_version = "1.0"

It declares its settings once, as a :class:`ConnectorSettings` model named by
``settings_model`` (docs/connector-settings.md).

The host refuses a connector whose major number differs from
:data:`CONTRACT_VERSION`'s, naming both versions; a connector without
``contract_version`` is taken as written for ``1.x``.
"""

from __future__ import annotations

from relaykit.addresses import (
    AddressKind,
    DeclaredChannel,
    InvalidAddressError,
    SupportsAddresses,
)
from relaykit.connector_settings import ConnectorSettings, SettingValueError
from relaykit.connectors import (
    CONTRACT_VERSION,
    Connector,
    InstanceConfig,
    RegisterConnector,
    SupportsReconcile,
)
from relaykit.errors import (
    AmbiguousSendError,
    AuthenticationError,
    CallbackParseError,
    CallbackVerificationError,
    ConfigError,
    ConnectorError,
    OptOutError,
    PermanentSendError,
    RateLimitedError,
    RelaykitError,
    SpecValidationError,
    TransientSendError,
)
from relaykit.hookspecs import hookimpl
from relaykit.results import (
    CallbackEvent,
    CallbackOutcome,
    CallbackRequest,
    Channel,
    ConnectionState,
    ConnectionStatus,
    ConsentChange,
    Direction,
    FieldSpec,
    InboundMessage,
    MessageStatus,
    OutboundMessage,
    Priority,
    ProviderTemplate,
    SenderCheck,
    SendReceipt,
    StatusUpdate,
)
from relaykit.sandboxes import RunningSandbox, SandboxFactory, SandboxOptions
from relaykit.settings_schema import settings_schema
from relaykit.spec import ConnectorSpec, load_spec_resource

__all__ = [
    "CONTRACT_VERSION",
    "AddressKind",
    "AmbiguousSendError",
    "AuthenticationError",
    "CallbackEvent",
    "CallbackOutcome",
    "CallbackParseError",
    "CallbackRequest",
    "CallbackVerificationError",
    "Channel",
    "ConfigError",
    "ConnectionState",
    "ConnectionStatus",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "ConnectorSpec",
    "ConsentChange",
    "DeclaredChannel",
    "Direction",
    "FieldSpec",
    "InboundMessage",
    "InstanceConfig",
    "InvalidAddressError",
    "MessageStatus",
    "OptOutError",
    "OutboundMessage",
    "PermanentSendError",
    "Priority",
    "ProviderTemplate",
    "RateLimitedError",
    "RegisterConnector",
    "RelaykitError",
    "RunningSandbox",
    "SandboxFactory",
    "SandboxOptions",
    "SendReceipt",
    "SenderCheck",
    "SettingValueError",
    "SpecValidationError",
    "StatusUpdate",
    "SupportsAddresses",
    "SupportsReconcile",
    "TransientSendError",
    "hookimpl",
    "load_spec_resource",
    "settings_schema",
]
