"""``relaykit check`` checks every sender the instance will use, and reports each one.

Each test runs the real ``relaykit check`` command against the sandbox, then
sends through the connector (the official SDK) from the sender the check
complained about, to show the check predicts what the first send does.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relaykit import Channel, OutboundMessage, PermanentSendError
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import DEFAULT_SMS_NUMBER, DEFAULT_VOICE_ONLY_NUMBER, TwilioSandbox

#: Not a number of the sandbox's default account.
FOREIGN_NUMBER = "+15005559999"
RECIPIENT = "+15005550010"


def write_config(
    tmp_path: Path, sandbox: TwilioSandbox, pool: list[str] | None = None, **settings: str
) -> Path:
    values = {
        "account_sid": sandbox.account_sid,
        "auth_token": sandbox.auth_token,
        "sms_sender": DEFAULT_SMS_NUMBER,
        "api_base_url": sandbox.url,
        **settings,
    }
    lines = [
        f'data_dir = "{tmp_path / "data"}"',
        "[tenants.north-high.instances.sms]",
        'connector = "twilio"',
        "[tenants.north-high.instances.sms.settings]",
        *(f"{k} = {json.dumps(v)}" for k, v in values.items()),
    ]
    if pool is not None:
        lines += [
            "[tenants.north-high.two_way]",
            'permitted_roles = ["teacher"]',
            f"sender_pool = {json.dumps(pool)}",
            'instance = "sms"',
        ]
    path = tmp_path / "relaykit.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


async def relaykit_check(config: Path, *extra: str) -> tuple[int, str]:
    """Run ``relaykit --config CONFIG check north-high/sms`` as a user would."""
    executable = shutil.which("relaykit")
    assert executable, "the relaykit console script is not installed"
    process = await asyncio.create_subprocess_exec(
        executable,
        "--config",
        str(config),
        "check",
        "north-high/sms",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "RELAYKIT_LOAD_PLUGINS": "twilio",
            "RELAYKIT_LOG__LEVEL": "warning",
            "COLUMNS": "200",
        },
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


def senders_of(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(s["role"], s["sender"]): s for s in report["senders"]}


async def test_check_reports_an_unapproved_whatsapp_sender_that_fails_63007_at_send(
    tmp_path: Path,
    twilio_sandbox: TwilioSandbox,
    connect: Callable[..., TwilioConnector],
) -> None:
    # The account owns the number, but it is no approved WhatsApp sender.
    unapproved = f"whatsapp:{DEFAULT_VOICE_ONLY_NUMBER}"
    config = write_config(tmp_path, twilio_sandbox, whatsapp_sender=unapproved)

    code, output = await relaykit_check(config, "--json")

    report = json.loads(output)
    assert (code, report["connected"], report["state"]) == (1, False, "sender_not_verified")
    checked = senders_of(report)
    assert checked[("sms_sender", DEFAULT_SMS_NUMBER)]["ok"] is True
    whatsapp = checked[("whatsapp_sender", DEFAULT_VOICE_ONLY_NUMBER)]
    assert whatsapp["ok"] is False
    assert "not an approved WhatsApp sender" in whatsapp["detail"]
    # ... and that is what the first WhatsApp message would have run into.
    connector = connect(whatsapp_sender=unapproved)
    with pytest.raises(PermanentSendError) as refused:
        await connector.send(OutboundMessage(channel=Channel.WHATSAPP, to=RECIPIENT, body="Hi"))
    assert refused.value.provider_code == "63007"


async def test_check_reports_pool_numbers_the_account_does_not_own_that_fail_21606_at_send(
    tmp_path: Path,
    twilio_sandbox: TwilioSandbox,
    connect: Callable[..., TwilioConnector],
) -> None:
    config = write_config(tmp_path, twilio_sandbox, pool=[DEFAULT_SMS_NUMBER, FOREIGN_NUMBER])

    code, output = await relaykit_check(config)

    assert code == 1, output
    assert "Connected" not in output.replace("Not connected", "")
    per_sender = [line.strip() for line in output.splitlines() if line.startswith("  ")]
    expected = [
        f"ok  sms_sender {DEFAULT_SMS_NUMBER} is an SMS number of account",
        f"ok  two_way.sender_pool {DEFAULT_SMS_NUMBER} is an SMS number of account",
        f"not usable  two_way.sender_pool {FOREIGN_NUMBER} is not a phone number of account",
    ]
    assert [
        line[: len(start)] for line, start in zip(per_sender, expected, strict=True)
    ] == expected
    # ... and a staff member given that number would have had 21606 at the first send.
    message = OutboundMessage(channel=Channel.SMS, to=RECIPIENT, body="Hi", sender=FOREIGN_NUMBER)
    with pytest.raises(PermanentSendError) as refused:
        await connect().send(message)
    assert refused.value.provider_code == "21606"


async def test_check_says_connected_only_after_checking_every_sender(
    tmp_path: Path, twilio_sandbox: TwilioSandbox
) -> None:
    config = write_config(
        tmp_path,
        twilio_sandbox,
        pool=[DEFAULT_SMS_NUMBER],
        whatsapp_sender=f"whatsapp:{DEFAULT_SMS_NUMBER}",
    )

    code, output = await relaykit_check(config, "--json")

    report = json.loads(output)
    assert (code, report["state"]) == (0, "connected"), output
    assert set(senders_of(report)) == {
        ("sms_sender", DEFAULT_SMS_NUMBER),
        ("whatsapp_sender", DEFAULT_SMS_NUMBER),
        ("two_way.sender_pool", DEFAULT_SMS_NUMBER),
    }
    assert all(s["ok"] for s in report["senders"])
