"""Core middleware: one log line per connector call, with tenant, instance, outcome and duration."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from relaykit.connectors import Connector
from relaykit.errors import ConnectorError, PacedError
from relaykit.logs import get_logger
from relaykit.middleware._chain import AuthenticateCall, CallbackCall, Middleware, SendCall
from relaykit.results import (
    CallbackOutcome,
    CallbackRequest,
    ConnectionStatus,
    OutboundMessage,
    SendReceipt,
)

__all__ = ["CALL_LOG_PLUGIN_NAME", "CallLog"]

CALL_LOG_PLUGIN_NAME = "relaykit.call_log"
T = TypeVar("T")
log = get_logger("relaykit.connector")
#: ``log.info`` or ``log.debug``: how a successful call is logged.
Emit = Callable[..., object]


class CallLog(Middleware):
    """Logs every ``authenticate``, ``send`` and ``handle_callback`` call (``connector_call``).

    A connector error is logged at warning (at info for :class:`PacedError`:
    waiting for relaykit's own rate limit is no failure), anything else raised
    at error. A successful ``authenticate`` is logged at info; a successful
    ``send`` or ``handle_callback`` - one per message, and the delivery record
    keeps the same facts - at debug, which costs next to nothing when disabled.
    """

    async def authenticate(
        self, call_next: AuthenticateCall, connector: Connector
    ) -> ConnectionStatus:
        fields: dict[str, Any] = {"call": "authenticate"}
        return await _logged(call_next(connector), connector, fields, log.info)

    async def send(
        self, call_next: SendCall, connector: Connector, message: OutboundMessage
    ) -> SendReceipt:
        fields = {"call": "send", "channel": message.channel.value, "reference": message.reference}
        return await _logged(call_next(connector, message), connector, fields, log.debug)

    async def handle_callback(
        self, call_next: CallbackCall, connector: Connector, request: CallbackRequest
    ) -> CallbackOutcome:
        fields = {"call": "handle_callback", "kind": request.kind}
        return await _logged(call_next(connector, request), connector, fields, log.debug)


async def _logged(
    inner: Awaitable[T], connector: Connector, fields: dict[str, Any], success: Emit
) -> T:
    config = connector.config
    fields["tenant"], fields["instance"], fields["connector"] = (
        config.tenant,
        config.name,
        config.connector,
    )
    started = time.perf_counter()
    try:
        result = await inner
    except ConnectorError as exc:
        # a send held back by relaykit's own rate limit waits in line: no failure
        emit = log.info if isinstance(exc, PacedError) else log.warning
        emit(
            "connector_call",
            **fields,
            outcome=type(exc).__name__,
            error=str(exc),
            provider_code=exc.provider_code,
            duration_ms=_ms(started),
        )
        raise
    except Exception as exc:
        log.error(
            "connector_call",
            **fields,
            outcome=type(exc).__name__,
            error=str(exc),
            duration_ms=_ms(started),
        )
        raise
    success("connector_call", **fields, outcome=_outcome(result), duration_ms=_ms(started))
    return result


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _outcome(result: object) -> str:
    if isinstance(result, ConnectionStatus):
        return result.state.value
    if isinstance(result, SendReceipt):
        return result.status.value
    if isinstance(result, CallbackOutcome):
        return f"{len(result.events)} event(s)"
    return "ok"
