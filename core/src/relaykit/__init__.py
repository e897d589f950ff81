"""relaykit: send a platform's notifications through pluggable provider connectors.

The public API for plugin authors and hosts. Everything not listed in
``__all__`` here or in a public module's ``__all__`` is private.
"""

from typing import TYPE_CHECKING

# The connector author's names come from their one list, :mod:`relaykit.contract`.
from relaykit import contract as _contract
from relaykit.connectors import ConnectorRegistry, RegisteredConnector
from relaykit.contract import *  # noqa: F403
from relaykit.errors import (
    DuplicateConnectorError,
    PacedError,
    PluginLoadError,
    StoreError,
    UnknownConnectorError,
    UnknownInstanceError,
)

if TYPE_CHECKING:
    # ``X as X`` marks them re-exported for type checkers; at run time ``__getattr__`` loads them.
    from relaykit.host import ConnectorHost as ConnectorHost
    from relaykit.middleware import Middleware as Middleware
    from relaykit.middleware import around_async as around_async
    from relaykit.plugins import CONNECTOR_GROUP as CONNECTOR_GROUP
    from relaykit.plugins import MIDDLEWARE_GROUP as MIDDLEWARE_GROUP
    from relaykit.plugins import PluginHost as PluginHost
    from relaykit.plugins import build_plugin_host as build_plugin_host

#: The host layer (plugin manager, settings, the store, templates) loads on first use, so
#: that ``import relaykit.contract`` - which runs this module - does not load it.
_LAZY = {
    "ConnectorHost": "relaykit.host",
    "Middleware": "relaykit.middleware",
    "around_async": "relaykit.middleware",
    "CONNECTOR_GROUP": "relaykit.plugins",
    "MIDDLEWARE_GROUP": "relaykit.plugins",
    "PluginHost": "relaykit.plugins",
    "build_plugin_host": "relaykit.plugins",
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
    *_contract.__all__,
    "ConnectorRegistry",
    "DuplicateConnectorError",
    "PacedError",
    "PluginLoadError",
    "RegisteredConnector",
    "StoreError",
    "UnknownConnectorError",
    "UnknownInstanceError",
    *_LAZY,
]
