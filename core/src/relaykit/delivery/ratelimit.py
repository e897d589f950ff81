"""Per-sender rate limits, as middleware around the ``send`` hook.

A mass alert must not provoke the provider's 429s: each sender (an instance's
default sender, or a staff user's pool number) has a token bucket in the
store, shared by every worker on the database. The middleware waits for its
token before the connector is called. A wait longer than ``max_wait`` takes
no token (PITFALLS 33: a refused reservation is given back) and raises
:class:`PacedError`: the dispatcher queues the message in the database until
its turn, without counting an attempt. A burst is paced, never diverted.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Generator

from relaykit.connectors import Connector
from relaykit.errors import PacedError
from relaykit.hookspecs import hookimpl
from relaykit.middleware import around_async
from relaykit.results import Channel, OutboundMessage, SendReceipt
from relaykit.store import Store

__all__ = ["RATE_LIMIT_PLUGIN_NAME", "TEXT_DEFAULT_RATE", "RateLimiter"]

RATE_LIMIT_PLUGIN_NAME = "relaykit.rate_limit"
#: A US long code sends about one SMS a second.
TEXT_DEFAULT_RATE = 1.0

#: ``rate(label, channel) -> (messages per second, burst)``, or ``None`` for no limit.
RateLookup = Callable[[str, Channel], tuple[float, float] | None]


class RateLimiter:
    """Waits for the sender's token before each send."""

    def __init__(self, store: Store, rate: RateLookup, *, max_wait: float = 30.0) -> None:
        self.store = store
        self.rate = rate
        self.max_wait = max_wait

    @hookimpl(wrapper=True)
    def send(
        self, connector: Connector, message: OutboundMessage
    ) -> Generator[None, Awaitable[SendReceipt], Awaitable[SendReceipt]]:
        return (yield from around_async(self._limited, connector, message))

    async def _limited(
        self, inner: Awaitable[SendReceipt], connector: Connector, message: OutboundMessage
    ) -> SendReceipt:
        label = connector.config.label
        limit = self.rate(label, message.channel)
        if limit is not None:
            rate, burst = limit
            key = f"{label}:{message.channel.value}:{message.sender or 'default'}"
            wait = await self.store.rate_buckets.areserve(key, rate, burst, max_wait=self.max_wait)
            if wait > self.max_wait:
                # back when the line ahead is shorter than max_wait, spread over a second
                raise PacedError(
                    f"sender {key} is at its rate of {rate}/s; queued for its turn",
                    retry_after=wait - self.max_wait + random.random(),
                )
            if wait:
                await asyncio.sleep(wait)
        return await inner
