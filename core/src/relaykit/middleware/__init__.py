"""Middleware: plugins that wrap connector hooks (logging, metrics, rate limits).

:func:`around_async` lets a pluggy ``wrapper=True`` implementation of an
async hook await the inner call; :mod:`relaykit.middleware.call_log` is the
core's own example, logging every connector call.
"""

from relaykit.middleware._async import around_async

__all__ = ["around_async"]
