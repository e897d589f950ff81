"""The core's built-in plugin: the one implementation of the connector hooks.

Each implementation calls the method of the same name on the connector the
host picked (the pattern of pytest's ``pytest_runtest_call``), so middleware
wrapping these hooks wraps exactly one connector call.
"""

from __future__ import annotations

from collections.abc import Awaitable

from relaykit.connectors import Connector
from relaykit.hookspecs import hookimpl
from relaykit.results import (
    CallbackOutcome,
    CallbackRequest,
    ConnectionStatus,
    FieldSpec,
    OutboundMessage,
    SendReceipt,
)

CORE_PLUGIN_NAME = "relaykit.core"


class CorePlugin:
    @hookimpl(trylast=True)
    def authenticate(self, connector: Connector) -> Awaitable[ConnectionStatus]:
        return connector.authenticate()

    @hookimpl(trylast=True)
    def send(self, connector: Connector, message: OutboundMessage) -> Awaitable[SendReceipt]:
        return connector.send(message)

    @hookimpl(trylast=True)
    def handle_callback(
        self, connector: Connector, request: CallbackRequest
    ) -> Awaitable[CallbackOutcome]:
        return connector.handle_callback(request)

    @hookimpl(trylast=True)
    def describe_fields(self, connector_class: type[Connector]) -> list[FieldSpec]:
        return connector_class.spec().fields()
