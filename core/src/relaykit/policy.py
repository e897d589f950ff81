"""Per-tenant delivery policy, as configured: routes, SMS rules, limits, two-way staff senders.

Every rule the seed products hard-code is a setting here (defaults in
brackets follow the SS&E SMS configuration and the Portal guide).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from relaykit.results import Channel, Priority

__all__ = ["ChannelPolicy", "QuietHours", "Route", "RouteStep", "SmsPolicy", "TwoWayPolicy"]

DefaultStatus = Literal["opted_in", "opted_out"]
_DEFAULT_STATUS: dict[str, DefaultStatus] = {
    "student": "opted_in",
    "guest": "opted_in",
    "staff": "opted_out",
}
_STRICT = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
#: Twilio's ValidityPeriod: whole seconds from 1 to 36,000 (10 hours)
VALIDITY_PERIOD_RANGE = (1, 36000)
_VALIDITY_CHANNELS = (Channel.SMS, Channel.WHATSAPP)


class RouteStep(BaseModel):
    """One step of a route: a channel, sent through one of the tenant's connector instances."""

    model_config = _STRICT

    channel: Channel
    instance: str = Field(min_length=1)
    #: seconds the provider may keep the message queued (Twilio's ``ValidityPeriod``); an
    #: OTP older than that is useless, so the provider fails it instead of sending it late
    validity_period: int | None = None

    @field_validator("validity_period")
    @classmethod
    def _validity_period_in_range(cls, period: int | None) -> int | None:
        low, high = VALIDITY_PERIOD_RANGE
        if period is not None and not low <= period <= high:
            raise ValueError(
                f"validity_period is {period}: use whole seconds from {low} to {high:,} "
                "(Twilio's ValidityPeriod allows at most 10 hours)"
            )
        return period

    @model_validator(mode="after")
    def _validity_period_on_text(self) -> RouteStep:
        if self.validity_period is not None and self.channel not in _VALIDITY_CHANNELS:
            raise ValueError(
                f"validity_period is set on the {self.channel.value} step: it applies to sms "
                "and whatsapp steps only (Twilio's ValidityPeriod); remove it"
            )
        return self


class Route(BaseModel):
    """The ordered steps for an event, optionally different per recipient kind.

    :ivar steps: tried in order until one is accepted.
    :ivar by_kind: steps for a recipient kind (``guest = email first``).
    :ivar deadline_minutes: no ``delivered`` within this time moves to the next step.
    :ivar deadline_seconds: the same in seconds (an OTP's deadline); set one of the two.
        A deadline applies only to channels whose connector reports delivery
        (SMS, WhatsApp); an email accepted by the relay is final unless it bounces.
        On the last step (an SMS-only OTP route) a missed deadline fails the
        notification with reason ``deadline``; nothing else is tried.
    :ivar priority: ``high`` for messages that must not wait behind a broadcast on
        the same sender (an OTP): claimed first, and they take the sender's next
        token ahead of the queued sends (docs/otp.md) [normal].
    """

    model_config = _STRICT

    steps: tuple[RouteStep, ...] = Field(min_length=1)
    by_kind: dict[str, tuple[RouteStep, ...]] = Field(default_factory=dict)
    deadline_minutes: int | None = Field(default=None, gt=0)
    deadline_seconds: float | None = Field(default=None, gt=0)
    priority: Priority = Priority.NORMAL

    @model_validator(mode="after")
    def _one_deadline(self) -> Route:
        if self.deadline_minutes is not None and self.deadline_seconds is not None:
            raise ValueError("set deadline_minutes or deadline_seconds, not both")
        return self

    @property
    def deadline(self) -> timedelta | None:
        """How long a step has to report ``delivered`` before the next one is tried."""
        if self.deadline_seconds is not None:
            return timedelta(seconds=self.deadline_seconds)
        return timedelta(minutes=self.deadline_minutes) if self.deadline_minutes else None

    def steps_for(self, kind: str) -> tuple[RouteStep, ...]:
        return self.by_kind.get(kind, self.steps)


class SmsPolicy(BaseModel):
    """How phone numbers are chosen and SMS is limited.

    :ivar default_phone_type: numbers in ``default`` SMS status are used only
        if their type is this one [mobile].
    :ivar default_status: whether numbers in ``default`` status count as
        opted in, per recipient kind [students in, staff out].
    :ivar monthly_limit: SMS per calendar month (tenant time zone); once
        reached, SMS goes by email. ``None``: unlimited.
    :ivar max_length: a longer rendered SMS body goes by email [1000].
    :ivar default_region: region for numbers written without ``+``; ``None``
        requires international format.
    """

    model_config = _STRICT

    default_phone_type: str = "mobile"
    default_status: dict[str, DefaultStatus] = Field(default_factory=lambda: dict(_DEFAULT_STATUS))
    monthly_limit: int | None = Field(default=None, ge=0)
    max_length: int = Field(default=1000, gt=0, le=1600)
    default_region: str | None = Field(default=None, min_length=2, max_length=2)


class ChannelPolicy(BaseModel):
    """A tenant's rules for one channel kind (``[tenants.T.channels.<kind>]``).

    Unset fields keep the channel's defaults: for ``sms`` those of
    ``[tenants.T.sms]`` (``max_length``, ``monthly_limit``), for ``whatsapp``
    its ``max_length``; every other channel has no limits and no quiet hours
    unless set here, so a pager never inherits SMS rules.

    :ivar monthly_limit: messages on this channel per calendar month (tenant
        time zone); once reached, the step is skipped (``monthly_limit``).
    :ivar max_length: a longer rendered body skips the step (``too_long``).
    :ivar quiet_hours: whether the tenant's ``quiet_hours`` apply to this
        channel [true for sms and whatsapp, false for the others].
    """

    model_config = _STRICT

    monthly_limit: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, gt=0)
    quiet_hours: bool | None = None

    def over(self, defaults: ChannelPolicy) -> ChannelPolicy:
        """These rules, with ``defaults`` for the fields not set here."""
        given = {name: getattr(self, name) for name in self.model_fields_set}
        return defaults.model_copy(update=given)


class QuietHours(BaseModel):
    """Local hours in which recipients get no SMS or WhatsApp: those steps go by the next one.

    :ivar start: ``"21:00"``: quiet from this local time...
    :ivar end: ``"07:00"``: ...until this one (the next morning when it is earlier than start).
    :ivar timezone: the recipients' time zone; unset, the tenant's ``time_zone``.
    """

    model_config = _STRICT

    start: time
    end: time
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_time_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}: use an IANA name") from None
        return value

    def covers(self, moment: datetime, default_time_zone: str) -> bool:
        """Whether ``moment`` falls in the quiet hours, read in their time zone."""
        local = moment.astimezone(ZoneInfo(self.timezone or default_time_zone)).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # over midnight


class TwoWayPolicy(BaseModel):
    """Staff-initiated two-way SMS: who may send, and the pool of sender numbers.

    :ivar permitted_roles: staff roles allowed to send; others are refused.
    :ivar sender_pool: E.164 numbers assigned to staff users on first send.
    :ivar instance: the connector instance the pool numbers belong to.
    :ivar notify_instance: the email instance that tells staff about replies.
    """

    model_config = _STRICT

    permitted_roles: tuple[str, ...] = ()
    sender_pool: tuple[str, ...] = ()
    instance: str | None = None
    notify_instance: str | None = None

    @field_validator("sender_pool")
    @classmethod
    def _e164_numbers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for number in value:
            if not _E164.fullmatch(number):
                raise ValueError(
                    f"{number!r} is not an E.164 number: write each pool number as + country "
                    "code and number, without spaces, e.g. +447700900100"
                )
        return value

    @model_validator(mode="after")
    def _pool_needs_instance(self) -> TwoWayPolicy:
        if self.sender_pool and not self.instance:
            raise ValueError(
                "two_way.sender_pool is set: also set two_way.instance (the SMS instance)"
            )
        return self
