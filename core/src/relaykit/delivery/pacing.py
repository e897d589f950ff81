"""How fast a broadcast can go, when it will be done, and who it cannot reach in time.

A broadcast's messages on its route's first step queue for the senders of
that step's instance: the rate limiter (:mod:`relaykit.delivery.ratelimit`)
lets each sender send at its configured rate, so relaykit paces sends rather
than failing them into email. From the same rates, :class:`BroadcastPacing`
says before a broadcast starts how long it will take (:meth:`~BroadcastPacing.eta`)
and, given a deadline, which recipients' turn comes too late; the tenant's
``[tenants.T.broadcasts] unreachable_within_deadline`` decides whether those
fall back to the route's next step now (``fallback``) or wait for their turn
(``wait``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from types import MappingProxyType

from relaykit.broadcast_policy import Unreachable
from relaykit.delivery.planner import NO_SKIP
from relaykit.delivery.ratelimit import sender_rate
from relaykit.delivery.reasons import FallbackReason
from relaykit.errors import ConfigError
from relaykit.policy import RouteStep
from relaykit.results import Channel
from relaykit.settings import RelaykitSettings

__all__ = ["BroadcastPacing", "SenderRate", "broadcast_senders", "duration_text", "pace_summary"]


@dataclass(frozen=True, slots=True)
class SenderRate:
    """One sender a broadcast's messages go through: its rate-limiter key and its limit.

    :ivar label: ``tenant/instance``.
    :ivar rate: messages per second; ``None``: no limit (email).
    :ivar burst: messages that may go at once before the rate applies.
    """

    label: str
    rate: float | None
    burst: float


def broadcast_senders(settings: RelaykitSettings, tenant: str, step: RouteStep) -> list[SenderRate]:
    """The senders that carry a broadcast's messages on ``step``: the instance's own sender
    (its ``rate_per_second``: a Messaging Service's is its whole sender pool's rate).

    The tenant's ``two_way.sender_pool`` numbers are staff users' identities (replies go
    to them), never used for a broadcast, so they add nothing here.
    """
    label = f"{tenant}/{step.instance}"
    limit = sender_rate(settings, label, step.channel)
    if limit is None:
        return [SenderRate(label, None, math.inf)]
    return [SenderRate(label, limit[0], limit[1])]


@dataclass(frozen=True)
class BroadcastPacing:
    """The pace of one broadcast on its route's first step, and its deadline policy.

    Build it with :meth:`for_event`.

    :ivar channel: the paced channel (the route's first step's).
    :ivar rate: messages per second the broadcast's senders reach together;
        ``None``: unlimited.
    :ivar burst: messages that go at once before the rate applies (the senders' bursts).
    :ivar deadline: when a recipient's turn is too late; ``None``: never.
    :ivar policy: ``fallback`` or ``wait`` (``[tenants.T.broadcasts]``).
    :ivar can_fall_back: the route has a later step on another channel.
    """

    channel: Channel
    rate: float | None
    burst: float
    deadline: timedelta | None
    policy: Unreachable
    can_fall_back: bool

    @classmethod
    def for_event(
        cls,
        settings: RelaykitSettings,
        tenant: str,
        event: str,
        deadline: timedelta | None,
    ) -> BroadcastPacing:
        """The pacing of a broadcast of ``event`` for ``tenant``.

        :param deadline: the broadcast's; ``None`` takes the route's
            (``deadline_minutes``/``deadline_seconds``), if it has one.
        :raises ConfigError: unknown tenant, or no route for the event.
        """
        settings_of = settings.tenant(tenant)
        route = settings_of.route_for(event)
        if route is None:
            raise ConfigError(
                f"tenant {tenant!r} has no route for event {event!r} and no default route; "
                f"add [tenants.{tenant}.routes.{event}] or [tenants.{tenant}.routes.default]"
            )
        first = route.steps[0]
        return cls.from_senders(
            first.channel,
            broadcast_senders(settings, tenant, first),
            deadline=deadline if deadline is not None else route.deadline,
            policy=settings_of.broadcasts.unreachable_within_deadline,
            can_fall_back=any(step.channel != first.channel for step in route.steps[1:]),
        )

    @classmethod
    def from_senders(
        cls,
        channel: Channel,
        senders: Iterable[SenderRate],
        *,
        deadline: timedelta | None,
        policy: Unreachable,
        can_fall_back: bool,
    ) -> BroadcastPacing:
        """Pacing over senders that share the load: their rates and bursts add up."""
        listed = list(senders)
        unlimited = not listed or any(s.rate is None for s in listed)
        rate = None if unlimited else sum(s.rate or 0.0 for s in listed)
        burst = math.inf if unlimited else sum(s.burst for s in listed)
        return cls(channel, rate, burst, deadline, policy, can_fall_back)

    def send_offset(self, position: int) -> timedelta:
        """How long after the start the ``position``-th message (0-based) gets its turn."""
        if self.rate is None or position + 1 <= self.burst:
            return timedelta(0)
        return timedelta(seconds=(position + 1 - self.burst) / self.rate)

    def eta(self, count: int) -> timedelta | None:
        """How long ``count`` messages take through the senders; ``None``: no limit."""
        if self.rate is None:
            return None
        return self.send_offset(count - 1) if count > 0 else timedelta(0)

    def past_deadline(self, position: int) -> bool:
        """Whether the ``position``-th recipient (0-based) of the broadcast cannot be sent
        within the deadline at the senders' rate."""
        return position > self._last_in_time

    @cached_property
    def _last_in_time(self) -> float:
        """The last position whose turn is within the deadline (``send_offset`` solved for it)."""
        if self.deadline is None or self.rate is None:
            return math.inf
        return self.deadline.total_seconds() * self.rate + self.burst - 1

    def skipped_channels(self, position: int) -> Mapping[Channel, FallbackReason]:
        """The channels :meth:`Plan.build <relaykit.delivery.planner.Plan.build>` must skip
        for the ``position``-th recipient: the paced channel when its turn is past the
        deadline and the tenant's policy is ``fallback`` (and the route has somewhere to
        fall back to); else none (``wait``: it keeps its place in the queue)."""
        if self.policy != "fallback" or not self.can_fall_back or not self.past_deadline(position):
            return NO_SKIP
        return self._skip_paced

    def summary(self, count: int) -> str:
        """How long ``count`` recipients take on the paced channel, for the start message."""
        return pace_summary(
            self.channel, count, self.rate, self.eta(count), self.deadline, self.policy
        )

    @cached_property
    def _skip_paced(self) -> Mapping[Channel, FallbackReason]:
        return MappingProxyType({self.channel: FallbackReason.PACED_PAST_DEADLINE})


def pace_summary(
    channel: Channel,
    count: int,
    rate: float | None,
    eta: timedelta | None,
    deadline: timedelta | None,
    policy: str,
) -> str:
    """One line for people: how long ``count`` messages on ``channel`` take, and the deadline."""
    if rate is None or eta is None:
        return (
            f"{channel.value}: no rate limit; {count:,} messages go as fast as the "
            "provider takes them"
        )
    line = f"{channel.value}: {count:,} messages at {rate:g}/s take about {duration_text(eta)}"
    if deadline is not None:
        line += f" (deadline {duration_text(deadline)}, past it: {policy})"
    return line


def duration_text(span: timedelta) -> str:
    """``27 h 46 min``, ``3 min 20 s``, ``12 s``."""
    seconds = round(span.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
