"""Magic phone numbers: Twilio's documented test numbers and the sandbox's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from relaykit_twilio_sandbox import DEFAULT_SMS_NUMBER, TwilioSandbox
from tests.twilio.sandbox_fixtures import WebhookReceiver, basic_auth

WHATSAPP_SENDER = f"whatsapp:{DEFAULT_SMS_NUMBER}"


@pytest.fixture
async def create(
    twilio_sandbox: TwilioSandbox,
) -> AsyncIterator[Any]:
    """POST a Messages-create with the given fields; returns (HTTP status, JSON body)."""
    sb = twilio_sandbox
    url = f"{sb.url}/2010-04-01/Accounts/{sb.account_sid}/Messages.json"
    async with aiohttp.ClientSession(headers=basic_auth(sb.account_sid, sb.auth_token)) as s:

        async def call(**fields: str) -> tuple[int, dict[str, Any]]:
            data = {"From": DEFAULT_SMS_NUMBER, "Body": "hi", **fields}
            async with s.post(url, data=data) as response:
                return response.status, await response.json()

        yield call


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", 21211),
        ("+15005550002", 21612),
        ("+15005550003", 21408),
        ("+15005550004", 21610),
        ("+15005550009", 21614),
        ("whatsapp:+15005550016", 63016),
    ],
)
async def test_magic_recipient_is_refused_with_its_code(
    create: Any, twilio_sandbox: TwilioSandbox, to: str, code: int
) -> None:
    sender = WHATSAPP_SENDER if to.startswith("whatsapp:") else DEFAULT_SMS_NUMBER
    status, body = await create(To=to, From=sender)
    assert (status, body["code"], body["status"]) == (400, code, 400)
    assert twilio_sandbox.messages == []


@pytest.mark.parametrize(("from_", "code"), [("+15005550001", 21212), ("+15005550008", 21611)])
async def test_magic_sender_is_refused_with_its_code(create: Any, from_: str, code: int) -> None:
    status, body = await create(To="+15551230001", From=from_)
    assert (status, body["code"]) == (400, code)


async def test_the_valid_test_sender_is_accepted(create: Any) -> None:
    status, body = await create(To="+15551230001", From="+15005550006")
    assert (status, body["status"]) == (201, "queued")


async def test_63016_number_is_delivered_over_sms(create: Any) -> None:
    """The WhatsApp-window number only means something on WhatsApp."""
    status, _ = await create(To="+15005550016")
    assert status == 201


async def test_whatsapp_sender_must_be_whatsapp_enabled(create: Any) -> None:
    status, body = await create(To="whatsapp:+15551230001", From="whatsapp:+15005550007")
    assert (status, body["code"]) == (400, 63007)


@pytest.mark.parametrize(
    ("to", "sender", "statuses", "error_code"),
    [
        ("+15551230001", DEFAULT_SMS_NUMBER, ["sent", "delivered"], None),
        ("+15005550030", DEFAULT_SMS_NUMBER, ["sent", "undelivered"], "30003"),
        ("+15005550031", DEFAULT_SMS_NUMBER, ["failed"], "30008"),
        ("+15005550033", DEFAULT_SMS_NUMBER, ["sent"], None),
        ("whatsapp:+15005550017", WHATSAPP_SENDER, ["failed"], "63016"),
        ("whatsapp:+15005550018", WHATSAPP_SENDER, ["sent", "delivered", "read"], None),
    ],
)
async def test_magic_recipient_ends_in_its_documented_status(
    create: Any,
    twilio_sandbox: TwilioSandbox,
    webhook_receiver: WebhookReceiver,
    to: str,
    sender: str,
    statuses: list[str],
    error_code: str | None,
) -> None:
    status, body = await create(To=to, From=sender, StatusCallback=f"{webhook_receiver.url}/s")
    assert (status, body["status"]) == (201, "queued")
    await twilio_sandbox.settle()
    received = webhook_receiver.received
    assert [r.form["MessageStatus"] for r in received] == statuses
    assert received[-1].form.get("ErrorCode") == error_code
    message = twilio_sandbox.message(body["sid"])
    assert message is not None and message.status == statuses[-1]
    assert message.error_code == (int(error_code) if error_code else None)


async def test_stop_from_a_recipient_makes_later_sends_fail_with_21610(
    create: Any, twilio_sandbox: TwilioSandbox
) -> None:
    assert (await create(To="+15551230007"))[0] == 201
    await twilio_sandbox.simulate_inbound("+15551230007", DEFAULT_SMS_NUMBER, "stop")
    status, body = await create(To="+15551230007")
    assert (status, body["code"]) == (400, 21610)
    await twilio_sandbox.simulate_inbound("+15551230007", DEFAULT_SMS_NUMBER, "START")
    assert (await create(To="+15551230007"))[0] == 201
