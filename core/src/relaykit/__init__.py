"""relaykit: send a platform's notifications through pluggable provider connectors.

The public API for plugin authors and hosts. Everything not listed in
``__all__`` here or in a public module's ``__all__`` is private.
"""

from relaykit.connectors import Connector, ConnectorRegistry, InstanceConfig, RegisteredConnector
from relaykit.errors import (
    AmbiguousSendError,
    AuthenticationError,
    CallbackParseError,
    CallbackVerificationError,
    ConfigError,
    ConnectorError,
    DuplicateConnectorError,
    OptOutError,
    PermanentSendError,
    PluginLoadError,
    RateLimitedError,
    RelaykitError,
    SpecValidationError,
    TransientSendError,
    UnknownConnectorError,
    UnknownInstanceError,
)
from relaykit.hookspecs import hookimpl
from relaykit.host import ConnectorHost
from relaykit.middleware import around_async
from relaykit.plugins import CONNECTOR_GROUP, MIDDLEWARE_GROUP, PluginHost, build_plugin_host
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
    SendReceipt,
    StatusUpdate,
)
from relaykit.sandboxes import RunningSandbox, SandboxOptions
from relaykit.spec import ConnectorSpec, load_spec_resource

__all__ = [
    "CONNECTOR_GROUP",
    "MIDDLEWARE_GROUP",
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
    "ConnectorHost",
    "ConnectorRegistry",
    "ConnectorSpec",
    "ConsentChange",
    "Direction",
    "DuplicateConnectorError",
    "FieldSpec",
    "InboundMessage",
    "InstanceConfig",
    "MessageStatus",
    "OptOutError",
    "OutboundMessage",
    "PermanentSendError",
    "PluginHost",
    "PluginLoadError",
    "RateLimitedError",
    "RegisteredConnector",
    "RelaykitError",
    "RunningSandbox",
    "SandboxOptions",
    "SendReceipt",
    "SpecValidationError",
    "StatusUpdate",
    "TransientSendError",
    "UnknownConnectorError",
    "UnknownInstanceError",
    "around_async",
    "build_plugin_host",
    "hookimpl",
    "load_spec_resource",
]
