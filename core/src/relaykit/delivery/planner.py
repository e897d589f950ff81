"""Choosing the channel: walk a route's steps, skipping each that cannot be used, and say why.

Whether a step can be used is decided by :data:`SKIP_RULES`, an ordered list
of small functions; the first to return a :class:`Skip` skips the step with
its reason. A new rule is one function added there plus one
:class:`~relaykit.delivery.reasons.FallbackReason` (see docs/fallback-rules.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from relaykit.addresses import AddressKind
from relaykit.delivery.addresses import AddressBook, BuiltinAddressBook
from relaykit.delivery.health import InstanceHealth
from relaykit.delivery.reads import PlanningReads
from relaykit.delivery.reasons import FallbackReason
from relaykit.errors import ConfigError
from relaykit.policy import ChannelPolicy, RouteStep
from relaykit.recipients import (
    ContactChoice,
    PhoneChoice,
    Recipient,
    StaffUser,
    choose_contact,
    choose_phone,
    contact_addresses,
    phone_numbers,
)
from relaykit.results import Channel, Priority
from relaykit.settings import TenantSettings
from relaykit.sms import count_segments
from relaykit.store import NewMessage
from relaykit.templates import TemplateCatalog, TemplatePart

__all__ = [
    "NO_SKIP",
    "SKIP_RULES",
    "STAFF_REPLY_EVENT",
    "Draft",
    "Plan",
    "Planner",
    "Skip",
    "SkipRule",
    "month_of",
]

#: The event that tells a staff user about a reply to their pool number, by email.
STAFF_REPLY_EVENT = "staff_reply"

_TEXT = (Channel.SMS, Channel.WHATSAPP)

#: No channel skipped by the caller (the default of :meth:`Plan.build`'s ``skip``).
NO_SKIP: Mapping[Channel, FallbackReason] = MappingProxyType({})


@functools.lru_cache(maxsize=256)  # a broadcast or a dry run plans many at one moment
def month_of(moment: datetime, time_zone: str) -> str:
    """The calendar month (``2026-11``) of ``moment`` in the tenant's time zone."""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m")


@dataclass(frozen=True)
class Plan:
    """What one notification is: tenant, event, who for, with what data, along which steps.

    Build it with :meth:`build`, the one constructor: a notification being sent
    and one being moved on later get the same steps.
    """

    tenant_name: str
    tenant: TenantSettings
    event: str
    recipient: Recipient
    data: Mapping[str, Any]
    staff: StaffUser | None
    steps: tuple[RouteStep, ...]
    deadline: timedelta | None = None
    #: channels the caller rules out for this notification, with why (a broadcast's pacing)
    skip: Mapping[Channel, FallbackReason] = field(default_factory=dict)
    #: the route's priority, carried by every message of the notification
    priority: Priority = Priority.NORMAL

    @classmethod
    def build(
        cls,
        tenant_name: str,
        tenant: TenantSettings,
        event: str,
        recipient: Recipient,
        data: Mapping[str, Any],
        staff: StaffUser | None = None,
        skip: Mapping[Channel, FallbackReason] = NO_SKIP,
    ) -> Plan:
        """The plan of ``event`` for ``recipient``: the event's route (else the default one);
        a staff reply goes by email through the tenant's ``two_way.notify_instance``.

        :param skip: channels whose steps are skipped with the given reason (a broadcast
            recipient its senders cannot reach within the deadline:
            :meth:`BroadcastPacing.skipped_channels
            <relaykit.delivery.pacing.BroadcastPacing.skipped_channels>`).
        :raises ConfigError: the tenant has no route for the event.
        """
        notify = tenant.two_way.notify_instance
        deadline, priority = None, Priority.NORMAL
        if event == STAFF_REPLY_EVENT and notify is not None:
            steps: tuple[RouteStep, ...] = (RouteStep(channel=Channel.EMAIL, instance=notify),)
        else:
            route = tenant.route_for(event)
            if route is None:
                raise ConfigError(
                    f"tenant {tenant_name!r} has no route for event {event!r} and no default "
                    f"route; add [tenants.{tenant_name}.routes.{event}] or "
                    f"[tenants.{tenant_name}.routes.default]"
                )
            steps, deadline = route.steps_for(recipient.kind), route.deadline
            priority = route.priority
        return cls(
            tenant_name,
            tenant,
            event,
            recipient,
            dict(data),
            staff,
            steps,
            deadline,
            dict(skip),
            priority,
        )


@dataclass(frozen=True)
class Skip:
    """Why a step is not used: the reason, a sentence for the operator, the address if known."""

    reason: FallbackReason
    detail: str
    to: str = ""


class Draft:
    """One step of a plan being considered, with what the rules need, each worked out once."""

    def __init__(self, planner: Planner, plan: Plan, index: int, now: datetime) -> None:
        self.planner = planner
        self.store = planner.store
        self.plan = plan
        self.index = index
        self.step = plan.steps[index]
        self.now = now

    @property
    def label(self) -> str:
        return f"{self.plan.tenant_name}/{self.step.instance}"

    @property
    def is_text(self) -> bool:
        """SMS or WhatsApp: billed in segments, sent from a number (the sender pool's too)."""
        return self.step.channel in _TEXT

    @cached_property
    def address_kind(self) -> AddressKind | None:
        """What the step's instance needs as the address on this channel; ``None``: it does
        not serve the channel."""
        return self.planner.addresses.address_kind(self.label, self.step.channel)

    @cached_property
    def policy(self) -> ChannelPolicy:
        """The tenant's rules for the step's channel kind."""
        return self.planner.policy(self.plan.tenant, self.step.channel)

    @property
    def address(self) -> str | None:
        """The address the step would go to, by the channel's address kind."""
        kind = self.address_kind
        if kind == AddressKind.PHONE:
            return self.phone.number
        if kind == AddressKind.EMAIL:
            return self.plan.recipient.email
        return self.contact.address if kind is not None else None

    @property
    def uses_pool(self) -> bool:
        """A staff user's message through the instance of the two-way sender pool."""
        two_way = self.plan.tenant.two_way
        return (
            self.plan.staff is not None
            and bool(two_way.sender_pool)
            and self.step.instance == two_way.instance
        )

    @cached_property
    def sender(self) -> str | None:
        """The staff user's pool number (assigned on first use); ``None`` when all are taken."""
        assert self.plan.staff is not None
        return self.store.senders.assign(
            self.plan.tenant_name,
            self.plan.staff.id,
            self.plan.tenant.two_way.sender_pool,
            staff_email=self.plan.staff.email,
        )

    @cached_property
    def phone(self) -> PhoneChoice:
        policy = self.plan.tenant.sms
        opted_out = self.store.optouts.opted_out(
            self.plan.tenant_name,
            self.step.channel.value,
            phone_numbers(self.plan.recipient, policy.default_region),
        )
        return choose_phone(self.plan.recipient, policy, opted_out)

    @cached_property
    def contact(self) -> ContactChoice:
        """The recipient's best contact of the channel's (custom) address kind."""
        kind = self.address_kind
        assert kind is not None

        def normalize(raw: str) -> str:
            return self.planner.addresses.normalize(self.label, kind, raw)

        recipient = self.plan.recipient
        opted_out = self.store.optouts.opted_out(
            self.plan.tenant_name,
            self.step.channel.value,
            contact_addresses(recipient, kind, normalize),
        )
        return choose_contact(recipient, kind, normalize, opted_out)

    @cached_property
    def body(self) -> str:
        """The rendered body of a one-part channel (all but email)."""
        (part,) = TemplatePart.parts_of(self.step.channel)
        return self.render(part)

    def render(self, part: TemplatePart) -> str:
        return self.planner.render(self.plan, part)


#: ``rule(draft)``: a reason to skip the step, or ``None`` to let the next rule decide.
SkipRule = Callable[[Draft], Skip | None]


def instance_connected(draft: Draft) -> Skip | None:
    health = draft.planner.health
    if health.is_down(draft.label):
        return Skip(FallbackReason.NOT_CONNECTED, health.reason(draft.label))
    return None


def channel_served(draft: Draft) -> Skip | None:
    if draft.address_kind is not None:
        return None
    channel = draft.step.channel.value
    return Skip(
        FallbackReason.NO_ADDRESS,
        f"the connector of {draft.label} does not declare channel {channel!r}: route "
        f"{channel} through an instance whose connector serves it",
    )


def email_address_known(draft: Draft) -> Skip | None:
    if draft.address_kind == AddressKind.EMAIL and not draft.plan.recipient.email:
        return Skip(FallbackReason.NO_EMAIL, "the recipient has no email address")
    return None


def email_not_opted_out(draft: Draft) -> Skip | None:
    address = draft.plan.recipient.email
    if draft.address_kind != AddressKind.EMAIL or address is None:
        return None
    channel = draft.step.channel.value
    if draft.store.optouts.opted_out(draft.plan.tenant_name, channel, [address.lower()]):
        return Skip(FallbackReason.OPTED_OUT, f"{address} opted out of {channel}")
    return None


def sender_available(draft: Draft) -> Skip | None:
    if not draft.is_text or not draft.uses_pool or draft.sender is not None:
        return None
    pool = draft.plan.tenant.two_way.sender_pool
    return Skip(
        FallbackReason.SENDER_POOL_EXHAUSTED, f"all {len(pool)} sender numbers are assigned"
    )


def number_usable(draft: Draft) -> Skip | None:
    if draft.address_kind != AddressKind.PHONE or draft.phone.number is not None:
        return None
    reason = FallbackReason.OPTED_OUT if draft.phone.opted_out else FallbackReason.NO_NUMBER
    return Skip(reason, draft.phone.reason)


def contact_usable(draft: Draft) -> Skip | None:
    kind = draft.address_kind
    if kind is None or kind.is_well_known or draft.contact.address is not None:
        return None
    reason = FallbackReason.OPTED_OUT if draft.contact.opted_out else FallbackReason.NO_ADDRESS
    return Skip(reason, draft.contact.reason)


def outside_quiet_hours(draft: Draft) -> Skip | None:
    quiet = draft.plan.tenant.quiet_hours
    if (
        not draft.policy.quiet_hours
        or quiet is None
        or not quiet.covers(draft.now, draft.plan.tenant.time_zone)
    ):
        return None
    zone = quiet.timezone or draft.plan.tenant.time_zone
    return Skip(
        FallbackReason.QUIET_HOURS,
        f"quiet hours {quiet.start:%H:%M}-{quiet.end:%H:%M} ({zone})",
        to=draft.address or "",
    )


def under_monthly_limit(draft: Draft) -> Skip | None:
    tenant = draft.plan.tenant
    limit = draft.policy.monthly_limit
    if limit is None:
        return None
    channel = draft.step.channel.value
    month = month_of(draft.now, tenant.time_zone)
    used = draft.store.usage.count(draft.plan.tenant_name, month, channel)
    if used < limit:
        return None
    name = "SMS" if draft.step.channel == Channel.SMS else f"{channel} messages"
    detail = f"{used} of {limit} {name} used this month"
    return Skip(FallbackReason.MONTHLY_LIMIT, detail, to=draft.address or "")


def not_ruled_out(draft: Draft) -> Skip | None:
    reason = draft.plan.skip.get(draft.step.channel)
    if reason is None:
        return None
    detail = (
        "the broadcast's senders cannot reach this recipient within its deadline at their "
        "rate (broadcasts.unreachable_within_deadline = fallback)"
        if reason == FallbackReason.PACED_PAST_DEADLINE
        else f"{draft.step.channel.value} ruled out by the caller"
    )
    return Skip(reason, detail, to=draft.address or "")


def fits_max_length(draft: Draft) -> Skip | None:
    limit = draft.policy.max_length
    if limit is None or draft.step.channel == Channel.EMAIL or len(draft.body) <= limit:
        return None
    detail = f"{len(draft.body)} characters, more than the limit of {limit}"
    return Skip(FallbackReason.TOO_LONG, detail, to=draft.address or "")


#: The pre-send rules, in order: the first that returns a :class:`Skip` skips the step.
SKIP_RULES: tuple[SkipRule, ...] = (
    instance_connected,
    channel_served,
    email_address_known,
    email_not_opted_out,
    sender_available,
    number_usable,
    contact_usable,
    outside_quiet_hours,
    under_monthly_limit,
    fits_max_length,
    # last: a step that no other rule skips is the one pacing would have sent
    not_ruled_out,
)


class Planner:
    """Turns a plan's steps into messages: skipped ones with their reason, then the one to send."""

    def __init__(
        self,
        store: PlanningReads,
        templates: TemplateCatalog,
        health: InstanceHealth,
        reports_delivery: Callable[[str], bool] = lambda label: True,
        rules: tuple[SkipRule, ...] = SKIP_RULES,
        *,
        addresses: AddressBook | None = None,
    ) -> None:
        self.store = store
        self.templates = templates
        self.health = health
        self.reports_delivery = reports_delivery
        self.rules = rules
        #: the address kind each instance needs per channel, from its connector's spec
        self.addresses: AddressBook = addresses or BuiltinAddressBook()
        self._policies: dict[tuple[int, Channel], tuple[TenantSettings, ChannelPolicy]] = {}

    def policy(self, tenant: TenantSettings, channel: Channel) -> ChannelPolicy:
        """``tenant.channel_policy(channel)``, worked out once per settings object (settings
        are replaced on reload, never changed in place)."""
        key = (id(tenant), channel)
        held = self._policies.get(key)
        if held is None or held[0] is not tenant:
            if len(self._policies) >= 1024:  # settings reloaded many times: forget the old
                self._policies.clear()
            held = self._policies[key] = (tenant, tenant.channel_policy(channel))
        return held[1]

    def render(self, plan: Plan, part: TemplatePart) -> str:
        """One part of the plan's message, rendered with its data."""
        return self.templates.render(plan.tenant_name, plan.event, part, plan.data)

    def plan(self, plan: Plan, start: int, now: datetime) -> list[NewMessage]:
        """Messages for steps ``start`` onwards, up to and including the first usable one."""
        planned: list[NewMessage] = []
        for index in range(start, len(plan.steps)):
            message = self._step(Draft(self, plan, index, now))
            planned.append(message)
            if message.status == "pending":
                break
        return planned

    def _step(self, draft: Draft) -> NewMessage:
        for rule in self.rules:
            skip = rule(draft)
            if skip is not None:
                return NewMessage(
                    step=draft.index,
                    channel=draft.step.channel,
                    instance=draft.step.instance,
                    to_address=skip.to,
                    body="",
                    status="skipped",
                    fallback_reason=skip.reason.value,
                    error_message=skip.detail,
                )
        if draft.step.channel == Channel.EMAIL:
            return NewMessage(
                step=draft.index,
                channel=Channel.EMAIL,
                instance=draft.step.instance,
                to_address=draft.plan.recipient.email or "",
                subject=draft.render(TemplatePart.EMAIL_SUBJECT),
                body=draft.render(TemplatePart.EMAIL_TEXT),
                html_body=draft.render(TemplatePart.EMAIL_HTML),
                deadline_at=self._deadline(draft),
                priority=draft.plan.priority,
            )
        count = count_segments(draft.body) if draft.is_text else None
        return NewMessage(
            step=draft.index,
            channel=draft.step.channel,
            instance=draft.step.instance,
            to_address=draft.address or "",
            body=draft.body,
            sender=draft.sender if draft.is_text and draft.uses_pool else None,
            segments=count.segments if count else None,
            encoding=count.encoding if count else None,
            deadline_at=self._deadline(draft),
            priority=draft.plan.priority,
            validity_period=draft.step.validity_period,
        )

    def _deadline(self, draft: Draft) -> datetime | None:
        """The route's deadline, for a step whose connector reports delivery; else none."""
        if draft.plan.deadline is None or not self.reports_delivery(draft.label):
            return None
        return draft.now + draft.plan.deadline
