"""Per-sender rate limits, as middleware around the ``send`` hook.

A mass alert must not provoke the provider's 429s: each sender (an instance's
default sender, or a staff user's pool number) has a token bucket in the
store, shared by every worker on the database. The middleware waits for its
token before the connector is called. Tokens are leased from the store in
blocks (up to a tenth of a second's worth, at most the burst), so a busy
sender does one upsert per block, not per message; a leased token unused for
:data:`LEASE_TTL` seconds lapses (the shared bucket under-used, never
over-used: no worker holds more than one block). A wait longer than ``max_wait`` takes
no token (PITFALLS 33: a refused reservation is given back) and raises
:class:`PacedError`: the dispatcher queues the message in the database until
its turn, without counting an attempt. A burst is paced, never diverted.

A ``high``-priority message (an OTP, docs/otp.md) does not join the line: it
takes one token from the bucket at once, whatever the wait of the sends
queued before it, and goes within one token's time of the last high-priority
send of this process on the sender (so a burst of OTPs is still paced at the
rate among themselves). The sends already waiting keep their turns, so for
the length of the line the sender overdraws its rate by that one token; the
bucket carries the token taken, and the next queued send waits one token's
time longer, so over the line the rate holds. It is a send, not a refusal:
nothing is owed for a send that did not happen (PITFALLS 33).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque

from relaykit.connectors import Connector
from relaykit.errors import PacedError
from relaykit.host import ConnectorHost
from relaykit.middleware import Middleware, SendCall
from relaykit.plugins import RATE_LIMIT_PLUGIN_NAME
from relaykit.results import Channel, OutboundMessage, Priority, SendReceipt
from relaykit.settings import RelaykitSettings
from relaykit.store import Store

__all__ = ["RATE_LIMIT_PLUGIN_NAME", "TEXT_DEFAULT_RATE", "RateLimiter", "sender_rate"]

#: A US long code sends about one SMS a second.
TEXT_DEFAULT_RATE = 1.0

#: A block is at most this many seconds of the sender's rate, and at most this many tokens.
LEASE_SECONDS = 0.1
MAX_BLOCK = 64
#: Seconds a leased token stays usable after its time.
LEASE_TTL = 1.0


def sender_rate(
    settings: RelaykitSettings, label: str, channel: Channel
) -> tuple[float, float] | None:
    """``(messages per second, burst)`` for a sender of instance ``label`` on ``channel``,
    or ``None`` for no limit: the instance's ``rate_per_second``, else one a second for
    SMS and WhatsApp (:data:`TEXT_DEFAULT_RATE`) and none for email and declared channels."""
    tenant, _, name = label.partition("/")
    instance = settings.tenant(tenant).instances[name]
    if instance.rate_per_second is not None:
        return instance.rate_per_second, instance.burst
    if channel not in (Channel.SMS, Channel.WHATSAPP):
        return None
    return TEXT_DEFAULT_RATE, instance.burst


class RateLimiter(Middleware):
    """Waits for the sender's token before each send.

    :param host: whose current settings (after a reload too) give each sender's rate.
    """

    def __init__(self, store: Store, host: ConnectorHost, *, max_wait: float = 30.0) -> None:
        self.store = store
        self.host = host
        self.max_wait = max_wait
        #: per bucket key: when each leased, unused token may be used (``time.time()``)
        self._leased: dict[str, deque[float]] = {}
        self._locks: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}
        #: per bucket key: when the next high-priority send of this process may go
        self._ahead: dict[str, float] = {}

    async def send(
        self, call_next: SendCall, connector: Connector, message: OutboundMessage
    ) -> SendReceipt:
        label = connector.config.label
        limit = sender_rate(self.host.settings, label, message.channel)
        if limit is not None:
            rate, burst = limit
            key = f"{label}:{message.channel.value}:{message.sender or 'default'}"
            if message.priority is Priority.HIGH:
                wait = await self._token_ahead(key, rate, burst)
            else:
                wait = await self._token(key, rate, burst)
            if wait > self.max_wait:
                # back when the line ahead is shorter than max_wait, spread over a second
                raise PacedError(
                    f"sender {key} is at its rate of {rate}/s; queued for its turn",
                    retry_after=wait - self.max_wait + random.random(),
                )
            if wait:
                await asyncio.sleep(wait)
        return await call_next(connector, message)

    async def _token(self, key: str, rate: float, burst: float) -> float:
        """The wait before this send's token: one already leased, else a new block's first."""
        wait = self._from_lease(key)
        if wait is not None:
            return wait
        async with self._lock(key):
            wait = self._from_lease(key)  # another send leased a block meanwhile
            if wait is not None:
                return wait
            block = max(1, min(MAX_BLOCK, int(min(burst, rate * LEASE_SECONDS))))
            waits = await self.store.rate_buckets.alease(
                key, rate, burst, block, max_wait=self.max_wait
            )
            if waits[0] <= self.max_wait and len(waits) > 1:
                now = time.time()
                self._leased.setdefault(key, deque()).extend(now + w for w in waits[1:])
            return waits[0]

    async def _token_ahead(self, key: str, rate: float, burst: float) -> float:
        """A high-priority send's wait: its token is taken from the bucket now (never given
        back: it is used), but it waits no longer than one token's time after the previous
        high-priority send here, however long the line of queued sends is."""
        in_line = await self.store.rate_buckets.areserve(key, rate, burst)
        now = time.time()
        ahead = max(0.0, self._ahead.get(key, now) - now)
        wait = min(in_line, ahead)
        self._ahead[key] = now + wait + 1.0 / rate
        return wait

    def _from_lease(self, key: str) -> float | None:
        leased = self._leased.get(key)
        if not leased:
            return None
        now = time.time()
        while leased and leased[0] + LEASE_TTL < now:
            leased.popleft()  # lapsed: the bucket was under-used, nobody owes anything
        if not leased:
            return None
        return max(0.0, leased.popleft() - now)

    def _lock(self, key: str) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        held = self._locks.get(key)
        if held is None or held[0] is not loop:
            held = (loop, asyncio.Lock())
            self._locks[key] = held
        return held[1]
