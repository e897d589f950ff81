"""Status callbacks: in order, signed exactly as Twilio signs, none for the initial status."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping

import pytest
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from relaykit_twilio_sandbox import (
    DEFAULT_MESSAGING_SERVICE_SID,
    DEFAULT_SMS_NUMBER,
    TwilioSandbox,
)
from tests.twilio.sandbox_fixtures import WebhookReceiver


def independent_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's documented algorithm, written without the SDK.

    Take the full URL, append each POST parameter's name and value with the
    names sorted, HMAC-SHA1 the result with the auth token, base64 the digest.
    """
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@pytest.fixture
async def sdk(twilio_sandbox: TwilioSandbox) -> AsyncIterator[Client]:
    http = AsyncTwilioHttpClient()
    client = Client(twilio_sandbox.account_sid, twilio_sandbox.auth_token, http_client=http)
    client.api.base_url = twilio_sandbox.url
    try:
        yield client
    finally:
        await http.close()


async def test_callbacks_arrive_in_order_sent_then_delivered(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    message = await sdk.messages.create_async(
        to="+15551230001",
        from_=DEFAULT_SMS_NUMBER,
        body="hi",
        status_callback=f"{webhook_receiver.url}/status?ref=abc",
    )
    received = await webhook_receiver.wait_for(2)
    assert [r.form["MessageStatus"] for r in received] == ["sent", "delivered"]
    first = received[0].form
    assert first["MessageSid"] == first["SmsSid"] == message.sid
    assert (first["AccountSid"], first["From"], first["To"]) == (
        twilio_sandbox.account_sid,
        DEFAULT_SMS_NUMBER,
        "+15551230001",
    )
    assert "ErrorCode" not in first


async def test_no_callback_for_the_initial_queued_status(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    """PITFALLS 10: Twilio never posts the status a message starts in."""
    message = await sdk.messages.create_async(
        to="+15551230001",
        from_=DEFAULT_SMS_NUMBER,
        body="hi",
        status_callback=f"{webhook_receiver.url}/status",
    )
    assert message.status == "queued"
    await twilio_sandbox.settle()
    statuses = [r.form["MessageStatus"] for r in webhook_receiver.received]
    assert statuses and "queued" not in statuses and "accepted" not in statuses


async def test_no_callback_for_accepted_through_a_messaging_service(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    message = await sdk.messages.create_async(
        to="+15551230001",
        messaging_service_sid=DEFAULT_MESSAGING_SERVICE_SID,
        body="hi",
        status_callback=f"{webhook_receiver.url}/status",
    )
    assert message.status == "accepted"
    await twilio_sandbox.settle()
    received = webhook_receiver.received
    assert [r.form["MessageStatus"] for r in received] == ["sent", "delivered"]
    assert received[0].form["MessagingServiceSid"] == DEFAULT_MESSAGING_SERVICE_SID


async def test_service_status_callback_is_used_when_the_message_sets_none(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    service = twilio_sandbox.default_account.service(DEFAULT_MESSAGING_SERVICE_SID)
    assert service is not None
    service.status_callback = f"{webhook_receiver.url}/service-status"
    await sdk.messages.create_async(
        to="+15551230001", messaging_service_sid=DEFAULT_MESSAGING_SERVICE_SID, body="hi"
    )
    received = await webhook_receiver.wait_for(2)
    assert {r.url for r in received} == {service.status_callback}


async def test_callbacks_are_signed_as_twilio_signs_them(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    url = f"{webhook_receiver.url}/status?ref=a%20b&x=1"
    await sdk.messages.create_async(
        to="+15005550030", from_=DEFAULT_SMS_NUMBER, body="hi", status_callback=url
    )
    received = await webhook_receiver.wait_for(2)
    validator = RequestValidator(twilio_sandbox.auth_token)
    for request in received:
        signature = request.headers["X-Twilio-Signature"]
        assert request.url == url
        assert validator.validate(request.url, request.form, signature)
        assert signature == independent_signature(
            twilio_sandbox.auth_token, request.url, request.form
        )


async def test_signature_does_not_verify_with_another_token_or_url(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    url = f"{webhook_receiver.url}/status"
    await sdk.messages.create_async(
        to="+15551230001", from_=DEFAULT_SMS_NUMBER, body="hi", status_callback=url
    )
    (request, _) = await webhook_receiver.wait_for(2)
    signature = request.headers["X-Twilio-Signature"]
    assert not RequestValidator("0" * 32).validate(url, request.form, signature)
    assert not RequestValidator(twilio_sandbox.auth_token).validate(
        url + "?x=1", request.form, signature
    )
    tampered = {**request.form, "MessageStatus": "failed"}
    assert not RequestValidator(twilio_sandbox.auth_token).validate(url, tampered, signature)


async def test_each_callback_has_its_own_idempotency_token(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    await sdk.messages.create_async(
        to="+15551230001",
        from_=DEFAULT_SMS_NUMBER,
        body="hi",
        status_callback=f"{webhook_receiver.url}/s",
    )
    received = await webhook_receiver.wait_for(2)
    tokens = [r.headers["I-Twilio-Idempotency-Token"] for r in received]
    assert all(tokens) and len(set(tokens)) == 2
    assert received[0].headers["Content-Type"].startswith("application/x-www-form-urlencoded")


async def test_whatsapp_callbacks_carry_the_channel(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    await sdk.messages.create_async(
        to="whatsapp:+15551230001",
        from_=f"whatsapp:{DEFAULT_SMS_NUMBER}",
        body="hi",
        status_callback=f"{webhook_receiver.url}/s",
    )
    received = await webhook_receiver.wait_for(2)
    assert received[0].form["ChannelPrefix"] == "whatsapp"
    assert received[0].form["To"] == "whatsapp:+15551230001"


async def test_delay_between_steps_is_configurable(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    twilio_sandbox.callback_delay = 0.3
    message = await sdk.messages.create_async(
        to="+15551230001",
        from_=DEFAULT_SMS_NUMBER,
        body="hi",
        status_callback=f"{webhook_receiver.url}/s",
    )
    fetched = await sdk.messages(message.sid).fetch_async()
    assert fetched.status == "queued" and webhook_receiver.received == []
    await webhook_receiver.wait_for(1, timeout=2)
    assert (await sdk.messages(message.sid).fetch_async()).status == "sent"


async def test_a_failing_receiver_is_recorded(
    sdk: Client, twilio_sandbox: TwilioSandbox, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.status = 500
    await sdk.messages.create_async(
        to="+15551230001",
        from_=DEFAULT_SMS_NUMBER,
        body="hi",
        status_callback=f"{webhook_receiver.url}/s",
    )
    await twilio_sandbox.settle()
    assert [c.response_status for c in twilio_sandbox.callbacks] == [500, 500]
