"""Middleware as plain async callables, composed once per plugin set.

A :class:`Middleware` defines any of three methods, each taking the rest of
the chain first (the shape of structlog's processors, and of ASGI middleware)::

    async def send(self, call_next, connector, message) -> SendReceipt
    async def authenticate(self, call_next, connector) -> ConnectionStatus
    async def handle_callback(self, call_next, connector, request) -> CallbackOutcome

:func:`compose_chains` nests them once - the first middleware outermost -
around the connector's own method, so a call costs one ``await`` per
middleware and no hook dispatch. Only when another plugin wraps a hook with
pluggy (``@hookimpl(wrapper=True)``) does that hook's innermost step go
through pluggy, so those wrappers still run around the connector.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pluggy

from relaykit.connectors import Connector
from relaykit.results import (
    CallbackOutcome,
    CallbackRequest,
    ConnectionStatus,
    OutboundMessage,
    SendReceipt,
)

__all__ = [
    "AuthenticateCall",
    "CallbackCall",
    "Chains",
    "Middleware",
    "SendCall",
    "compose_chains",
]

#: The rest of a ``send`` chain: ``await call_next(connector, message)``.
SendCall = Callable[[Connector, OutboundMessage], Awaitable[SendReceipt]]
#: The rest of an ``authenticate`` chain: ``await call_next(connector)``.
AuthenticateCall = Callable[[Connector], Awaitable[ConnectionStatus]]
#: The rest of a ``handle_callback`` chain: ``await call_next(connector, request)``.
CallbackCall = Callable[[Connector, CallbackRequest], Awaitable[CallbackOutcome]]

C = TypeVar("C", bound=Callable[..., Any])

#: The async connector hooks a :class:`Middleware` may wrap.
WRAPPED_HOOKS = ("authenticate", "send", "handle_callback")


class Middleware:
    """Base class of relaykit middleware: plain async methods around a connector call.

    Subclass it and define any of ``send``, ``authenticate`` and
    ``handle_callback`` (see the module docstring for their signatures). Work
    before ``await call_next(...)`` runs before the connector; raising there
    (a rate limiter's :class:`~relaykit.RateLimitedError`) short-circuits the
    call, so the connector is never reached. Register an instance like any
    plugin (``PluginHost.register_plugin`` or a ``relaykit.plugins`` entry
    point naming the instance); the host composes the chain again whenever
    the plugin set changes.
    """


@dataclass(frozen=True, slots=True)
class Chains:
    """The composed call of each async connector hook: ``await chains.send(connector, message)``."""

    authenticate: AuthenticateCall
    send: SendCall
    handle_callback: CallbackCall


def compose_chains(
    pm: pluggy.PluginManager,
    middleware: Sequence[Middleware],
    core_plugin: str,
    *,
    traced: bool = False,
) -> Chains:
    """Nest ``middleware`` (outermost first) around each hook's innermost step.

    The innermost step calls the connector's method directly, unless a plugin
    other than ``core_plugin`` implements the hook in pluggy (a ``wrapper=True``
    middleware) or hook calls are ``traced`` (``RELAYKIT_TRACE_PLUGINS``): then
    it is the pluggy hook call, which runs those wrappers around the core's
    implementation.
    """

    def innermost(hook: str, direct: C) -> C:
        caller = getattr(pm.hook, hook)
        if not traced and all(impl.plugin_name == core_plugin for impl in caller.get_hookimpls()):
            return direct
        return _through_pluggy(caller)  # type: ignore[return-value]

    def chain(hook: str, direct: C) -> C:
        call: Any = innermost(hook, direct)
        for layer in reversed(middleware):
            method = getattr(layer, hook, None)
            if method is not None:
                call = functools.partial(method, call)
        return call  # type: ignore[no-any-return]

    return Chains(
        authenticate=chain("authenticate", _authenticate),
        send=chain("send", _send),
        handle_callback=chain("handle_callback", _handle_callback),
    )


# Plain functions returning the connector's coroutine: no extra coroutine frame per call.
def _authenticate(connector: Connector) -> Awaitable[ConnectionStatus]:
    return connector.authenticate()


def _send(connector: Connector, message: OutboundMessage) -> Awaitable[SendReceipt]:
    return connector.send(message)


def _handle_callback(connector: Connector, request: CallbackRequest) -> Awaitable[CallbackOutcome]:
    return connector.handle_callback(request)


def _through_pluggy(caller: pluggy.HookCaller) -> Callable[..., Awaitable[Any]]:
    """The hook call with the hookspec's argument names (pluggy takes keywords only)."""
    names = caller.spec.argnames if caller.spec is not None else ()

    def call(*args: Any) -> Awaitable[Any]:
        result: Awaitable[Any] = caller(**dict(zip(names, args, strict=True)))
        return result

    return call
