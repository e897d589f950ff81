"""Wrapping async hooks with pluggy wrappers.

pluggy knows nothing of coroutines: a ``wrapper=True`` implementation of an
async hook receives from ``yield`` the *unawaited* coroutine of the inner
call, so a plain wrapper never sees the provider's error or result.
:func:`around_async` lets the wrapper hand that coroutine to an ``async def``
which awaits it; pluggy then returns the new coroutine to the host.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["around_async"]

T = TypeVar("T")


def around_async(
    middleware: Callable[..., Coroutine[Any, Any, T]], *args: Any
) -> Generator[None, Awaitable[T], Awaitable[T]]:
    """Run ``await middleware(inner, *args)`` around the rest of an async hook chain.

    Use it with ``yield from`` in a ``@hookimpl(wrapper=True)``; the hook
    arguments stay named in the wrapper's signature, as pluggy requires::

        class Timing:
            @relaykit.hookimpl(wrapper=True)
            def send(self, connector, message):
                return (yield from around_async(self._timed, connector))

            async def _timed(self, inner, connector):
                started = time.perf_counter()
                try:
                    return await inner          # the connector's send
                finally:
                    record(connector, time.perf_counter() - started)

    ``inner`` is the awaitable of the rest of the chain (inner wrappers, then
    the connector). Not awaiting it short-circuits the call - e.g. a rate
    limiter raising ``RateLimitedError`` first; it is then closed, so no
    "coroutine was never awaited" warning leaks.
    """
    inner = yield
    return _run(middleware, inner, args)


async def _run(
    middleware: Callable[..., Coroutine[Any, Any, T]],
    inner: Awaitable[T],
    args: tuple[Any, ...],
) -> T:
    try:
        return await middleware(inner, *args)
    finally:
        if inspect.iscoroutine(inner) and inspect.getcoroutinestate(inner) == inspect.CORO_CREATED:
            inner.close()
