"""A broadcast's pace: its senders' rate, the ETA, the deadline policy, the planner's skip hook."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from relaykit.cli import app
from relaykit.delivery.pacing import BroadcastPacing, SenderRate
from relaykit.delivery.planner import Plan
from relaykit.delivery.reasons import FallbackReason
from relaykit.errors import ConfigError
from relaykit.recipients import Recipient
from relaykit.results import Channel
from relaykit.settings import RelaykitSettings, load_settings, settings_from
from tests.delivery.conftest import TENANT, MakeStack, phone, student

EVENT = "emergency_alert"
ALERT = {"school_name": "North High School", "alert_message": "The school is closed today."}
SERVICE = "MG" + "0" * 32


def settings(
    sms: dict[str, Any] | None = None,
    *,
    steps: tuple[str, ...] = ("sms", "email"),
    broadcasts: dict[str, Any] | None = None,
    deadline_minutes: int | None = None,
) -> RelaykitSettings:
    route: dict[str, Any] = {
        "steps": [{"channel": c, "instance": "sms" if c == "sms" else "mail"} for c in steps]
    }
    if deadline_minutes is not None:
        route["deadline_minutes"] = deadline_minutes
    tenant: dict[str, Any] = {
        "instances": {
            "sms": {"connector": "twilio", **(sms or {})},
            "mail": {"connector": "email"},
        },
        "routes": {"default": route},
    }
    if broadcasts is not None:
        tenant["broadcasts"] = broadcasts
    return settings_from({"tenants": {TENANT: tenant}})


def test_one_long_code_at_one_a_second_takes_28_hours_for_100000() -> None:
    pacing = BroadcastPacing.for_event(settings(), TENANT, EVENT, None)

    assert pacing.rate == 1.0
    eta = pacing.eta(100_000)
    assert eta is not None and round(eta / timedelta(hours=1), 1) == 27.8


def test_a_messaging_service_of_three_numbers_takes_a_third_of_the_time() -> None:
    one = BroadcastPacing.for_event(settings(), TENANT, EVENT, None)
    # a Messaging Service's rate_per_second is its sender pool's: three long codes, 3/s
    pool = BroadcastPacing.for_event(
        settings({"settings": {"sms_sender": SERVICE}, "rate_per_second": 3}), TENANT, EVENT, None
    )

    assert (one.eta(3001), pool.eta(3001)) == (timedelta(seconds=3000), timedelta(seconds=1000))


def test_senders_that_share_the_load_add_their_rates_and_bursts() -> None:
    senders = [SenderRate(f"{TENANT}/sms{i}", 1.0, 1.0) for i in range(3)]
    pacing = BroadcastPacing.from_senders(
        Channel.SMS, senders, deadline=None, policy="fallback", can_fall_back=True
    )

    assert (pacing.rate, pacing.burst) == (3.0, 3.0)
    assert pacing.eta(3003) == timedelta(seconds=1000)


def test_the_staff_sender_pool_does_not_speed_up_a_broadcast() -> None:
    tenant_settings = settings()
    two_way = tenant_settings.tenant(TENANT).two_way.model_copy(
        update={"sender_pool": ("+15005550100", "+15005550101"), "instance": "sms"}
    )
    tenant_settings.tenant(TENANT).two_way = two_way

    assert BroadcastPacing.for_event(tenant_settings, TENANT, EVENT, None).rate == 1.0


def test_email_first_is_not_paced() -> None:
    pacing = BroadcastPacing.for_event(
        settings(steps=("email", "sms")), TENANT, EVENT, timedelta(minutes=1)
    )

    assert pacing.rate is None and pacing.eta(1_000_000) is None
    assert not pacing.past_deadline(999_999)


def test_past_the_deadline_falls_back_by_default() -> None:
    pacing = BroadcastPacing.for_event(settings(), TENANT, EVENT, timedelta(minutes=10))

    # the 601st message (position 600) goes 600 s after the start: still in time
    assert not pacing.past_deadline(600) and pacing.skipped_channels(600) == {}
    assert pacing.past_deadline(601)
    assert pacing.skipped_channels(601) == {Channel.SMS: FallbackReason.PACED_PAST_DEADLINE}


def test_the_route_deadline_applies_when_the_broadcast_has_none() -> None:
    pacing = BroadcastPacing.for_event(settings(deadline_minutes=10), TENANT, EVENT, None)

    assert pacing.deadline == timedelta(minutes=10) and pacing.past_deadline(601)


def test_wait_keeps_every_recipient_on_sms() -> None:
    pacing = BroadcastPacing.for_event(
        settings(broadcasts={"unreachable_within_deadline": "wait"}),
        TENANT,
        EVENT,
        timedelta(minutes=10),
    )

    assert pacing.past_deadline(5000) and pacing.skipped_channels(5000) == {}


def test_an_sms_only_route_has_nowhere_to_fall_back_to() -> None:
    pacing = BroadcastPacing.for_event(
        settings(steps=("sms",)), TENANT, EVENT, timedelta(seconds=5)
    )

    assert pacing.past_deadline(100) and pacing.skipped_channels(100) == {}


def test_a_bad_policy_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f"""
[tenants.{TENANT}.instances.mail]
connector = "email"
[tenants.{TENANT}.broadcasts]
unreachable_within_deadline = "email"
""",
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as raised:
        load_settings(config)

    message = str(raised.value)
    assert f"tenants.{TENANT}.broadcasts.unreachable_within_deadline" in message
    assert "'fallback' or 'wait'" in message


async def test_a_channel_ruled_out_by_pacing_goes_by_email_with_its_reason(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    relay = stack.relay
    pacing = BroadcastPacing.for_event(relay.host.settings, TENANT, EVENT, timedelta(minutes=10))
    person = Recipient.model_validate(student(phone("+15005550010")))
    plan = Plan.build(
        TENANT, relay.tenant(TENANT), EVENT, person, ALERT, skip=pacing.skipped_channels(10**9)
    )

    record = await relay._start(plan)

    assert record.channel == Channel.EMAIL and record.state == "sent"
    assert record.fallbacks == [("sms", "paced_past_deadline")]
    stored = relay.delivery(record.id)
    assert stored is not None and stored.fallbacks == [("sms", "paced_past_deadline")]
    assert stack.sandbox.messages == [] and len(stack.emails_to("parent@example.org")) == 1


def test_relaykit_config_validate_exits_2_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[tenants.{TENANT}.broadcasts]\nunreachable_within_deadline = "later"\n', "utf-8"
    )

    result = CliRunner().invoke(app, ["--config", str(config), "config", "validate"])

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"tenants.{TENANT}.broadcasts.unreachable_within_deadline" in result.output
    assert "'fallback' or 'wait'" in result.output
