"""Webhooks end to end: the sandbox posts signed callbacks over HTTP; the connector checks them."""

from __future__ import annotations

import aiohttp
import pytest

from relaykit import (
    Channel,
    ConsentChange,
    InboundMessage,
    MessageStatus,
    OutboundMessage,
    StatusUpdate,
)
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import TwilioSandbox
from tests.twilio.connector_fixtures import CallbackServer

TO = "+14155552671"


def statuses(server: CallbackServer) -> list[StatusUpdate]:
    return [e for o in server.outcomes("status") for e in o.events if isinstance(e, StatusUpdate)]


@pytest.mark.parametrize(
    ("to", "channel", "final", "error_code"),
    [
        (TO, Channel.SMS, MessageStatus.DELIVERED, None),
        ("+15005550030", Channel.SMS, MessageStatus.UNDELIVERED, "30003"),
        ("+15005550031", Channel.SMS, MessageStatus.FAILED, "30008"),
        ("whatsapp:+15005550018", Channel.WHATSAPP, MessageStatus.READ, None),
        ("whatsapp:+15005550017", Channel.WHATSAPP, MessageStatus.FAILED, "63016"),
    ],
)
async def test_signed_status_callbacks_are_verified_and_normalised(
    sandbox_connector: TwilioConnector,
    twilio_sandbox: TwilioSandbox,
    callback_server: CallbackServer,
    to: str,
    channel: Channel,
    final: MessageStatus,
    error_code: str | None,
) -> None:
    receipt = await sandbox_connector.send(
        OutboundMessage(channel=channel, to=to, body="Lunch menu changed.", reference="msg-42")
    )
    await twilio_sandbox.settle()
    deliveries = [c for c in twilio_sandbox.callbacks if c.kind == "status"]
    await callback_server.wait_for(len(deliveries))
    assert deliveries and all(c.response_status == 200 for c in deliveries)
    updates = statuses(callback_server)
    assert {u.provider_message_id for u in updates} == {receipt.provider_message_id}
    assert {u.reference for u in updates} == {"msg-42"}
    assert updates[-1].status is final and updates[-1].error_code == error_code
    assert len({u.dedupe_key for u in updates}) == len(updates)


async def test_an_inbound_stop_reply_becomes_a_message_and_an_opt_out(
    sandbox_connector: TwilioConnector,
    twilio_sandbox: TwilioSandbox,
    callback_server: CallbackServer,
) -> None:
    number = twilio_sandbox.default_account.number("+15005550006")
    assert number is not None
    number.sms_url = f"{callback_server.url}/webhooks/north-high/sms/inbound"
    await twilio_sandbox.simulate_inbound("+447400123456", "+15005550006", "Stop")
    (handled,) = await callback_server.wait_for(1)
    assert handled.status == 200
    assert handled.outcome is not None
    message, consent = handled.outcome.events
    assert isinstance(message, InboundMessage) and message.sender == "+447400123456"
    assert isinstance(consent, ConsentChange)
    assert (consent.action, consent.address, consent.instance_address) == (
        "opt_out",
        "+447400123456",
        "+15005550006",
    )


async def test_inbound_media_and_the_twiml_answer_reach_twilio(
    sandbox_connector: TwilioConnector,
    twilio_sandbox: TwilioSandbox,
    callback_server: CallbackServer,
) -> None:
    number = twilio_sandbox.default_account.number("+15005550006")
    assert number is not None
    number.sms_url = f"{callback_server.url}/webhooks/north-high/sms/inbound"
    media = ["https://cdn.example.org/slip.jpg", "https://cdn.example.org/slip2.jpg"]
    await twilio_sandbox.simulate_inbound("+447400123456", "+15005550006", "signed", media)
    (handled,) = await callback_server.wait_for(1)
    assert handled.outcome is not None
    (message,) = handled.outcome.events
    assert isinstance(message, InboundMessage) and list(message.media_urls) == media
    delivery = twilio_sandbox.callbacks[-1]
    assert delivery.response_status == 200


async def test_a_captured_callback_replayed_elsewhere_is_refused_and_replayed_here_dedupes(
    sandbox_connector: TwilioConnector,
    twilio_sandbox: TwilioSandbox,
    callback_server: CallbackServer,
) -> None:
    await sandbox_connector.send(
        OutboundMessage(channel=Channel.SMS, to=TO, body="x", reference="msg-1")
    )
    await twilio_sandbox.settle()
    await callback_server.wait_for(2)
    captured = twilio_sandbox.callbacks[-1]
    other = captured.url.replace("rk_ref=msg-1", "rk_ref=msg-2")
    async with aiohttp.ClientSession() as session:
        for url, expected in ((other, 403), (captured.url, 200)):
            async with session.post(url, data=captured.params, headers=captured.headers) as answer:
                assert answer.status == expected
        forged = {**captured.headers, "X-Twilio-Signature": "A" * 28}
        async with session.post(captured.url, data=captured.params, headers=forged) as answer:
            assert answer.status == 403
        unsigned = {k: v for k, v in captured.headers.items() if k != "X-Twilio-Signature"}
        async with session.post(captured.url, data=captured.params, headers=unsigned) as answer:
            assert answer.status == 403
    original, replay = statuses(callback_server)[-2:]
    assert original.dedupe_key == replay.dedupe_key
