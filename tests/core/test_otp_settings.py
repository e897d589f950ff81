"""An OTP route's settings: priority and Twilio's validity period, refused out of range."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.core.test_cli_config import append, assert_config_error, invoke

pytestmark = pytest.mark.usefixtures("only_outbox")


def otp_route(step: str, route: str = 'priority = "high"\ndeadline_seconds = 60\n') -> str:
    return f"[tenants.north-high.routes.otp]\n{route}steps = [{{ {step} }}]\n"


@pytest.mark.parametrize("period", [0, 36001])
def test_a_validity_period_out_of_range_exits_2_naming_the_field_and_the_range(
    cli: CliRunner, outbox_config: Path, period: int
) -> None:
    step = f'channel = "sms", instance = "sms", validity_period = {period}'
    config = append(outbox_config, otp_route(step))

    assert_config_error(
        invoke(cli, config, "config", "validate"),
        "tenants.north-high.routes.otp.steps.0.validity_period",
        "from 1 to 36,000",
    )


def test_a_validity_period_on_an_email_step_exits_2(cli: CliRunner, outbox_config: Path) -> None:
    step = 'channel = "email", instance = "sms", validity_period = 30'
    config = append(outbox_config, otp_route(step))

    assert_config_error(
        invoke(cli, config, "config", "validate"),
        "tenants.north-high.routes.otp.steps.0",
        "sms and whatsapp steps only",
    )


def test_an_unknown_priority_exits_2_naming_the_choices(
    cli: CliRunner, outbox_config: Path
) -> None:
    step = 'channel = "sms", instance = "sms"'
    config = append(outbox_config, otp_route(step, 'priority = "urgent"\n'))

    assert_config_error(
        invoke(cli, config, "config", "validate"),
        "tenants.north-high.routes.otp.priority",
        "'normal' or 'high'",
    )


def test_an_otp_route_with_priority_and_validity_period_validates(
    cli: CliRunner, outbox_config: Path
) -> None:
    step = 'channel = "sms", instance = "sms", validity_period = 30'
    config = append(outbox_config, otp_route(step))

    result = invoke(cli, config, "config", "validate")

    assert result.exit_code == 0, result.output
