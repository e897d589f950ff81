"""Middleware: what runs around a connector call (logging, metrics, rate limits).

relaykit's own middleware - :class:`~relaykit.middleware.call_log.CallLog` and
the rate limiter - are :class:`Middleware` objects: plain async methods taking
the rest of the chain, composed once by the plugin host. Third-party plugins
may do the same, or wrap a hook with pluggy (``@hookimpl(wrapper=True)``),
where :func:`around_async` lets the wrapper await the inner call.
"""

from relaykit.middleware._async import around_async
from relaykit.middleware._chain import (
    AuthenticateCall,
    CallbackCall,
    Chains,
    Middleware,
    SendCall,
    compose_chains,
)

__all__ = [
    "AuthenticateCall",
    "CallbackCall",
    "Chains",
    "Middleware",
    "SendCall",
    "around_async",
    "compose_chains",
]
