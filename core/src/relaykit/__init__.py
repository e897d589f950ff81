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
    PacedError,
    PermanentSendError,
    PluginLoadError,
    RateLimitedError,
    RelaykitError,
    SpecValidationError,
    StoreError,
    TransientSendError,
    UnknownConnectorError,
    UnknownInstanceError,
)
from relaykit.hookspecs import hookimpl
from relaykit.host import ConnectorHost
from relaykit.middleware import Middleware, around_async
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
    SenderCheck,
    SendReceipt,
    StatusUpdate,
)
from relaykit.sandboxes import RunningSandbox, SandboxOptions
from relaykit.spec import ConnectorSpec, load_spec_resource

#: Heavier parts (the store, templates) load on first use, keeping plugin discovery cheap.
_LAZY = {
    "Relay": "relaykit.delivery",
    "RetryPolicy": "relaykit.delivery",
    "NotPermittedError": "relaykit.delivery",
    "FallbackReason": "relaykit.delivery",
    "Recipient": "relaykit.recipients",
    "PhoneNumber": "relaykit.recipients",
    "StaffUser": "relaykit.recipients",
    "DeliveryRecord": "relaykit.store",
    "MessageRecord": "relaykit.store",
    "TemplateCatalog": "relaykit.templates",
    "TemplatePart": "relaykit.templates",
    "TemplateError": "relaykit.templates",
    "MissingVariableError": "relaykit.templates",
    "Preview": "relaykit.templates",
    "count_segments": "relaykit.sms",
    "SegmentCount": "relaykit.sms",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'relaykit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


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
    "Middleware",
    "OptOutError",
    "OutboundMessage",
    "PacedError",
    "PermanentSendError",
    "PluginHost",
    "PluginLoadError",
    "RateLimitedError",
    "RegisteredConnector",
    "RelaykitError",
    "RunningSandbox",
    "SandboxOptions",
    "SendReceipt",
    "SenderCheck",
    "SpecValidationError",
    "StoreError",
    "StatusUpdate",
    "TransientSendError",
    "UnknownConnectorError",
    "UnknownInstanceError",
    "around_async",
    "build_plugin_host",
    "hookimpl",
    "load_spec_resource",
    *_LAZY,
]
