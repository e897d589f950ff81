"""Wrapping async hooks with pluggy wrappers.

pluggy knows nothing of coroutines: a ``wrapper=True`` implementation of an
async hook receives from ``yield`` the *unawaited* coroutine of the inner
call, so a plain wrapper never sees the provider's error or result.
:func:`around_async` lets the wrapper hand that awaitable to an ``async def``
which awaits it; pluggy then returns the new awaitable to the host.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

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
    limiter raising ``RateLimitedError`` first; the whole unawaited chain is
    then closed, so no "coroutine was never awaited" warning leaks.
    """
    inner = yield
    return _Around(middleware, inner, args)


class _Around(Generic[T]):
    """The awaitable a wrapper returns: its middleware around the inner chain."""

    def __init__(
        self,
        middleware: Callable[..., Coroutine[Any, Any, T]],
        inner: Awaitable[T],
        args: tuple[Any, ...],
    ) -> None:
        self._middleware, self._inner, self._args = middleware, inner, args
        self._started = False

    def __await__(self) -> Generator[Any, None, T]:
        self._started = True
        return self._run().__await__()

    async def _run(self) -> T:
        try:
            return await self._middleware(self._inner, *self._args)
        finally:
            _close_unawaited(self._inner)

    def close(self) -> None:
        """Close the chain below without running it (it was never awaited)."""
        if not self._started:
            self._started = True
            _close_unawaited(self._inner)


def _close_unawaited(awaitable: Awaitable[Any]) -> None:
    if isinstance(awaitable, _Around) or (
        inspect.iscoroutine(awaitable)
        and inspect.getcoroutinestate(awaitable) == inspect.CORO_CREATED
    ):
        awaitable.close()
