"""Simulated inbound messages: Twilio's webhook parameters, signed, to the number's SmsUrl."""

from __future__ import annotations

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from relaykit_twilio_sandbox import (
    DEFAULT_MESSAGING_SERVICE_SID,
    DEFAULT_SMS_NUMBER,
    TwilioApiError,
    TwilioSandbox,
)
from tests.twilio.sandbox_fixtures import WebhookReceiver

PERSON = "+15551234567"


@pytest.fixture
def inbound_url(twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver) -> str:
    url = f"{webhook_receiver.url}/inbound"
    number = twilio_sandbox.default_account.number(DEFAULT_SMS_NUMBER)
    assert number is not None
    number.sms_url = url
    return url


async def test_inbound_from_python_posts_twilios_parameters(
    twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver, inbound_url: str
) -> None:
    message = await twilio_sandbox.simulate_inbound(PERSON, DEFAULT_SMS_NUMBER, "Running late")
    (request,) = webhook_receiver.received
    form = request.form
    assert request.url == inbound_url
    assert form["MessageSid"] == form["SmsMessageSid"] == message.sid
    assert (form["From"], form["To"], form["Body"]) == (PERSON, DEFAULT_SMS_NUMBER, "Running late")
    assert (form["AccountSid"], form["NumMedia"], form["SmsStatus"]) == (
        twilio_sandbox.account_sid,
        "0",
        "received",
    )
    assert form["MessagingServiceSid"] == DEFAULT_MESSAGING_SERVICE_SID
    assert "OptOutType" not in form
    assert message.direction == "inbound" and message.callbacks[0].response_status == 200


async def test_inbound_webhook_is_signed(
    twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver, inbound_url: str
) -> None:
    await twilio_sandbox.simulate_inbound(PERSON, DEFAULT_SMS_NUMBER, "hello")
    (request,) = webhook_receiver.received
    validator = RequestValidator(twilio_sandbox.auth_token)
    assert validator.validate(inbound_url, request.form, request.headers["X-Twilio-Signature"])
    assert request.headers["I-Twilio-Idempotency-Token"]


async def test_inbound_media_is_numbered(
    twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver, inbound_url: str
) -> None:
    media = ["https://example.com/a.png", "https://example.com/b.jpg"]
    message = await twilio_sandbox.simulate_inbound(PERSON, DEFAULT_SMS_NUMBER, "", media)
    form = webhook_receiver.received[0].form
    assert form["NumMedia"] == "2"
    assert (form["MediaUrl0"], form["MediaUrl1"]) == tuple(media)
    assert (form["MediaContentType0"], form["MediaContentType1"]) == ("image/png", "image/jpeg")
    assert message.sid.startswith("MM")


@pytest.mark.parametrize(
    ("body", "opt_out_type"),
    [("STOP", "STOP"), (" unsubscribe ", "STOP"), ("Start", "START"), ("HELP", "HELP")],
)
async def test_keywords_carry_opt_out_type(
    twilio_sandbox: TwilioSandbox,
    webhook_receiver: WebhookReceiver,
    inbound_url: str,
    body: str,
    opt_out_type: str,
) -> None:
    await twilio_sandbox.simulate_inbound(PERSON, DEFAULT_SMS_NUMBER, body)
    assert webhook_receiver.received[0].form["OptOutType"] == opt_out_type


async def test_stop_inside_a_sentence_is_not_a_keyword(
    twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver, inbound_url: str
) -> None:
    await twilio_sandbox.simulate_inbound(PERSON, DEFAULT_SMS_NUMBER, "please stop by at 5")
    assert "OptOutType" not in webhook_receiver.received[0].form
    assert twilio_sandbox.default_account.opt_outs == set()


async def test_whatsapp_inbound_has_the_channel_and_no_opt_out_type(
    twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver, inbound_url: str
) -> None:
    await twilio_sandbox.simulate_inbound(
        f"whatsapp:{PERSON}", f"whatsapp:{DEFAULT_SMS_NUMBER}", "STOP"
    )
    form = webhook_receiver.received[0].form
    assert (form["From"], form["WaId"]) == (f"whatsapp:{PERSON}", PERSON.lstrip("+"))
    assert "OptOutType" not in form


async def test_inbound_through_the_control_endpoint(
    twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver, inbound_url: str
) -> None:
    data = [
        ("From", PERSON),
        ("To", DEFAULT_SMS_NUMBER),
        ("Body", "photo"),
        ("MediaUrl", "https://example.com/1.png"),
        ("MediaUrl", "https://example.com/2.png"),
    ]
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{twilio_sandbox.url}/_sandbox/inbound", data=data) as response,
    ):
        assert response.status == 200
        answer = await response.json()
    form = webhook_receiver.received[0].form
    assert (form["Body"], form["NumMedia"]) == ("photo", "2")
    assert answer["webhook"]["response_status"] == 200
    assert answer["message"]["sid"] == form["MessageSid"]


async def test_inbound_to_a_number_nobody_owns_is_refused(
    twilio_sandbox: TwilioSandbox,
) -> None:
    with pytest.raises(TwilioApiError):
        await twilio_sandbox.simulate_inbound(PERSON, "+15559990000", "hi")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{twilio_sandbox.url}/_sandbox/inbound",
            json={"From": PERSON, "To": "+15559990000", "Body": "hi"},
        ) as response,
    ):
        assert response.status == 404


async def test_inbound_without_sms_url_is_recorded_but_not_posted(
    twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    message = await twilio_sandbox.simulate_inbound(PERSON, DEFAULT_SMS_NUMBER, "hi")
    assert message.callbacks == [] and webhook_receiver.received == []
    assert twilio_sandbox.messages == [message]
