"""Choosing the channel: walk a route's steps, skipping each that cannot be used, and say why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from relaykit.delivery.health import InstanceHealth
from relaykit.delivery.reasons import FallbackReason
from relaykit.policy import RouteStep
from relaykit.recipients import Recipient, StaffUser, choose_phone, phone_numbers
from relaykit.results import Channel
from relaykit.settings import TenantSettings
from relaykit.sms import count_segments
from relaykit.store import NewMessage, Store
from relaykit.templates import TemplateCatalog, TemplatePart

__all__ = ["Plan", "Planner", "month_of"]

_BODY_PART = {Channel.SMS: TemplatePart.SMS, Channel.WHATSAPP: TemplatePart.WHATSAPP}


def month_of(moment: datetime, time_zone: str) -> str:
    """The calendar month (``2026-11``) of ``moment`` in the tenant's time zone."""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m")


@dataclass(frozen=True)
class Plan:
    """What one notification is: tenant, event, who for, with what data, along which steps."""

    tenant_name: str
    tenant: TenantSettings
    event: str
    recipient: Recipient
    data: Mapping[str, Any]
    staff: StaffUser | None
    steps: tuple[RouteStep, ...]
    deadline: timedelta | None = None


class Planner:
    """Turns a plan's steps into messages: skipped ones with their reason, then the one to send."""

    def __init__(
        self,
        store: Store,
        templates: TemplateCatalog,
        health: InstanceHealth,
        reports_delivery: Callable[[str], bool] = lambda label: True,
    ) -> None:
        self.store = store
        self.templates = templates
        self.health = health
        self.reports_delivery = reports_delivery

    def plan(self, plan: Plan, start: int, now: datetime) -> list[NewMessage]:
        """Messages for steps ``start`` onwards, up to and including the first usable one."""
        planned: list[NewMessage] = []
        for index in range(start, len(plan.steps)):
            message = self._step(plan, index, now)
            planned.append(message)
            if message.status == "pending":
                break
        return planned

    def _step(self, plan: Plan, index: int, now: datetime) -> NewMessage:
        step = plan.steps[index]
        label = f"{plan.tenant_name}/{step.instance}"
        if self.health.is_down(label):
            return _skipped(index, step, FallbackReason.NOT_CONNECTED, self.health.reason(label))
        if step.channel is Channel.EMAIL:
            return self._email(plan, index, step, now)
        return self._text_message(plan, index, step, now)

    def _text_message(self, plan: Plan, index: int, step: RouteStep, now: datetime) -> NewMessage:
        tenant, policy = plan.tenant, plan.tenant.sms
        sender = None
        two_way = tenant.two_way
        if plan.staff is not None and two_way.sender_pool and step.instance == two_way.instance:
            sender = self.store.senders.assign(
                plan.tenant_name, plan.staff.id, two_way.sender_pool, staff_email=plan.staff.email
            )
            if sender is None:
                return _skipped(
                    index,
                    step,
                    FallbackReason.SENDER_POOL_EXHAUSTED,
                    f"all {len(two_way.sender_pool)} sender numbers are assigned",
                )
        opted_out = self.store.optouts.opted_out(
            plan.tenant_name,
            step.channel.value,
            phone_numbers(plan.recipient, policy.default_region),
        )
        choice = choose_phone(plan.recipient, policy, opted_out)
        if choice.number is None:
            reason = FallbackReason.OPTED_OUT if choice.opted_out else FallbackReason.NO_NUMBER
            return _skipped(index, step, reason, choice.reason)
        if step.channel is Channel.SMS and policy.monthly_limit is not None:
            used = self.store.usage.count(plan.tenant_name, month_of(now, tenant.time_zone), "sms")
            if used >= policy.monthly_limit:
                return _skipped(
                    index,
                    step,
                    FallbackReason.MONTHLY_LIMIT,
                    f"{used} of {policy.monthly_limit} SMS used this month",
                    to=choice.number,
                )
        body = self.templates.render(
            plan.tenant_name, plan.event, _BODY_PART[step.channel], plan.data
        )
        if len(body) > policy.max_length:
            return _skipped(
                index,
                step,
                FallbackReason.TOO_LONG,
                f"{len(body)} characters, more than the limit of {policy.max_length}",
                to=choice.number,
            )
        count = count_segments(body)
        return NewMessage(
            step=index,
            channel=step.channel,
            instance=step.instance,
            to_address=choice.number,
            body=body,
            sender=sender,
            segments=count.segments,
            encoding=count.encoding,
            deadline_at=self._deadline(plan, step, now),
        )

    def _deadline(self, plan: Plan, step: RouteStep, now: datetime) -> datetime | None:
        """The route's deadline, for a step whose connector reports delivery; else none."""
        if plan.deadline is None or not self.reports_delivery(
            f"{plan.tenant_name}/{step.instance}"
        ):
            return None
        return now + plan.deadline

    def _email(self, plan: Plan, index: int, step: RouteStep, now: datetime) -> NewMessage:
        address = plan.recipient.email
        if not address:
            return _skipped(
                index, step, FallbackReason.NO_EMAIL, "the recipient has no email address"
            )
        if self.store.optouts.opted_out(plan.tenant_name, "email", [address.lower()]):
            return _skipped(index, step, FallbackReason.OPTED_OUT, f"{address} opted out of email")

        def render(part: TemplatePart) -> str:
            return self.templates.render(plan.tenant_name, plan.event, part, plan.data)

        return NewMessage(
            step=index,
            channel=Channel.EMAIL,
            instance=step.instance,
            to_address=address,
            subject=render(TemplatePart.EMAIL_SUBJECT),
            body=render(TemplatePart.EMAIL_TEXT),
            html_body=render(TemplatePart.EMAIL_HTML),
            deadline_at=self._deadline(plan, step, now),
        )


def _skipped(
    index: int, step: RouteStep, reason: FallbackReason, detail: str, *, to: str = ""
) -> NewMessage:
    return NewMessage(
        step=index,
        channel=step.channel,
        instance=step.instance,
        to_address=to,
        body="",
        status="skipped",
        fallback_reason=reason.value,
        error_message=detail,
    )
