"""Core middleware: one log line per connector call, with tenant, instance, outcome and duration.

A ``handle_callback`` that succeeds logs at debug: its effect is already in the
message's timeline, and at two or three callbacks per SMS an info line each
cost a callback about a fifth of its server time (``benchmarks/callbacks.py
--profile``). A refused or failing callback still logs at warning or error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Generator
from typing import Any, TypeVar

from relaykit.connectors import Connector
from relaykit.errors import ConnectorError, PacedError
from relaykit.hookspecs import hookimpl
from relaykit.logs import get_logger
from relaykit.middleware._async import around_async
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
#: the stdlib logger under ``log``: its level decides, whoever configured logging
_stdlib_log = logging.getLogger("relaykit.connector")


class CallLog:
    """Logs every ``authenticate``, ``send`` and ``handle_callback`` call."""

    @hookimpl(wrapper=True, tryfirst=True)
    def authenticate(
        self, connector: Connector
    ) -> Generator[None, Awaitable[ConnectionStatus], Awaitable[ConnectionStatus]]:
        return (yield from around_async(self._logged, connector, "authenticate", {}))

    @hookimpl(wrapper=True, tryfirst=True)
    def send(
        self, connector: Connector, message: OutboundMessage
    ) -> Generator[None, Awaitable[SendReceipt], Awaitable[SendReceipt]]:
        fields = {"channel": message.channel.value, "reference": message.reference}
        return (yield from around_async(self._logged, connector, "send", fields))

    @hookimpl(wrapper=True, tryfirst=True)
    def handle_callback(
        self, connector: Connector, request: CallbackRequest
    ) -> Generator[None, Awaitable[CallbackOutcome], Awaitable[CallbackOutcome]]:
        return (
            yield from around_async(
                self._logged, connector, "handle_callback", {"kind": request.kind}, "debug"
            )
        )

    async def _logged(
        self,
        inner: Awaitable[T],
        connector: Connector,
        call: str,
        fields: dict[str, Any],
        success_level: str = "info",
    ) -> T:
        config = connector.config
        bound = log.bind(
            call=call,
            tenant=config.tenant,
            instance=config.name,
            connector=config.connector,
            **fields,
        )
        started = time.perf_counter()
        try:
            result = await inner
        except ConnectorError as exc:
            # a send held back by relaykit's own rate limit waits in line: no failure
            emit = bound.info if isinstance(exc, PacedError) else bound.warning
            emit(
                "connector_call",
                outcome=type(exc).__name__,
                error=str(exc),
                provider_code=exc.provider_code,
                duration_ms=_ms(started),
            )
            raise
        except Exception as exc:
            bound.error(
                "connector_call",
                outcome=type(exc).__name__,
                error=str(exc),
                duration_ms=_ms(started),
            )
            raise
        if success_level == "info" or _stdlib_log.isEnabledFor(logging.DEBUG):
            getattr(bound, success_level)(
                "connector_call", outcome=_outcome(result), duration_ms=_ms(started)
            )
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
