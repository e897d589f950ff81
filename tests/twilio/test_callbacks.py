"""Normalising verified webhooks: statuses, inbound messages, consent keywords, dedupe keys."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from relaykit import (
    CallbackParseError,
    CallbackRequest,
    Channel,
    ConsentChange,
    InboundMessage,
    InstanceConfig,
    MessageStatus,
    StatusUpdate,
)
from relaykit_twilio import TwilioConnector
from tests.twilio.connector_fixtures import AUTH_TOKEN, PUBLIC_BASE

BASE = f"{PUBLIC_BASE}/webhooks/north-high/sms"
SID = "SM" + "b" * 32


def request(
    kind: str, params: dict[str, str], *, url: str | None = None, token_header: str = "t-1"
) -> CallbackRequest:
    url = url or f"{BASE}/{kind}"
    return CallbackRequest(
        kind=kind,
        url=url,
        method="POST",
        headers={
            "x-twilio-signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params),
            "i-twilio-idempotency-token": token_header,
        },
        body=urlencode(params).encode(),
    )


def inbound(body: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": SID,
        "AccountSid": "AC" + "0" * 32,
        "From": "+447400123456",
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


@pytest.fixture
def connector(
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
) -> TwilioConnector:
    return make_twilio_connector(twilio_config())


@pytest.mark.parametrize("status", list(MessageStatus))
async def test_every_message_status_is_normalised(
    connector: TwilioConnector, status: MessageStatus
) -> None:
    params = {"MessageSid": SID, "MessageStatus": status.value, "To": "+1", "From": "+2"}
    outcome = await connector.handle_callback(
        request("status", params, url=f"{BASE}/status?rk_ref=ref-7")
    )
    (update,) = outcome.events
    assert update == StatusUpdate(
        provider_message_id=SID,
        status=status,
        reference="ref-7",
        dedupe_key=f"twilio:status:{SID}:{status.value}",
    )
    assert outcome.response_body == b""


async def test_error_code_is_carried_with_a_description(connector: TwilioConnector) -> None:
    params = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    (update,) = (await connector.handle_callback(request("status", params))).events
    assert isinstance(update, StatusUpdate)
    assert (update.error_code, update.error_message) == ("30003", "unreachable destination handset")
    assert update.status.is_failure and update.reference is None


async def test_legacy_sms_status_parameter_is_read(connector: TwilioConnector) -> None:
    params = {"SmsSid": SID, "MessageSid": SID, "SmsStatus": "sent"}
    (update,) = (await connector.handle_callback(request("status", params))).events
    assert isinstance(update, StatusUpdate) and update.status is MessageStatus.SENT


async def test_21610_in_a_status_callback_is_a_status_update_only(
    connector: TwilioConnector,
) -> None:
    """The host decides the opt-out, and only for a message it sent."""
    params = {
        "MessageSid": SID,
        "MessageStatus": "failed",
        "ErrorCode": "21610",
        "To": "+447400123456",
        "From": "+15005550006",
    }
    (update,) = (await connector.handle_callback(request("status", params))).events
    assert isinstance(update, StatusUpdate) and update.error_code == "21610"


async def test_unknown_status_or_missing_sid_is_a_parse_error(connector: TwilioConnector) -> None:
    with pytest.raises(CallbackParseError, match="unknown MessageStatus 'exploded'"):
        await connector.handle_callback(
            request("status", {"MessageSid": SID, "MessageStatus": "exploded"})
        )
    with pytest.raises(CallbackParseError, match="no MessageSid"):
        await connector.handle_callback(request("status", {"MessageStatus": "sent"}))
    with pytest.raises(CallbackParseError, match="unknown webhook kind"):
        await connector.handle_callback(request("bounce", {"MessageSid": SID}))


async def test_inbound_message_with_media_answers_empty_twiml(connector: TwilioConnector) -> None:
    params = inbound(
        "Photo of the permission slip",
        NumMedia="2",
        MediaUrl0="https://api.twilio.com/media/ME1",
        MediaContentType0="image/jpeg",
        MediaUrl1="https://api.twilio.com/media/ME2",
    )
    outcome = await connector.handle_callback(request("inbound", params))
    assert outcome.events == (
        InboundMessage(
            provider_message_id=SID,
            channel=Channel.SMS,
            sender="+447400123456",
            recipient="+15005550006",
            body="Photo of the permission slip",
            media_urls=("https://api.twilio.com/media/ME1", "https://api.twilio.com/media/ME2"),
            dedupe_key=f"twilio:inbound:{SID}",
        ),
    )
    assert outcome.response_body == b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert outcome.response_content_type == "text/xml"


async def test_inbound_whatsapp_addresses_are_stripped_to_e164(connector: TwilioConnector) -> None:
    params = inbound("hi", From="whatsapp:+447400123456", To="whatsapp:+15005550006")
    (message,) = (await connector.handle_callback(request("inbound", params))).events
    assert isinstance(message, InboundMessage)
    assert (message.channel, message.sender, message.recipient) == (
        Channel.WHATSAPP,
        "+447400123456",
        "+15005550006",
    )


async def test_media_count_without_urls_is_a_parse_error(connector: TwilioConnector) -> None:
    with pytest.raises(CallbackParseError, match="NumMedia 1 but no MediaUrl0"):
        await connector.handle_callback(request("inbound", inbound("x", NumMedia="1")))


@pytest.mark.parametrize(
    ("body", "action"),
    [
        ("STOP", "opt_out"),
        ("stop", "opt_out"),
        ("  Stop. ", "opt_out"),
        ("STOPALL", "opt_out"),
        ("UNSUBSCRIBE", "opt_out"),
        ("CANCEL", "opt_out"),
        ("END", "opt_out"),
        ("QUIT", "opt_out"),
        ("START", "opt_in"),
        ("unstop", "opt_in"),
    ],
)
async def test_keywords_become_consent_changes(
    connector: TwilioConnector, body: str, action: str
) -> None:
    message, consent = (await connector.handle_callback(request("inbound", inbound(body)))).events
    assert isinstance(message, InboundMessage) and message.body == body
    assert isinstance(consent, ConsentChange)
    assert (consent.action, consent.address, consent.instance_address) == (
        action,
        "+447400123456",
        "+15005550006",
    )
    assert consent.keyword == body.strip().upper()


@pytest.mark.parametrize("body", ["Please stop texting me", "STOP IT", "help", "started"])
async def test_sentences_are_not_keywords(connector: TwilioConnector, body: str) -> None:
    events = (await connector.handle_callback(request("inbound", inbound(body)))).events
    assert [type(e) for e in events] == [InboundMessage]


async def test_opt_out_type_from_advanced_opt_out_wins(connector: TwilioConnector) -> None:
    custom = inbound("ARRET", OptOutType="STOP")
    events = (await connector.handle_callback(request("inbound", custom))).events
    assert isinstance(events[1], ConsentChange) and events[1].action == "opt_out"
    helped = inbound("STOP", OptOutType="HELP")
    events = (await connector.handle_callback(request("inbound", helped))).events
    assert [type(e) for e in events] == [InboundMessage]


async def test_pitfall_8_replays_get_the_same_dedupe_keys_whatever_the_unsigned_token(
    connector: TwilioConnector,
) -> None:
    # Signatures carry no timestamp and I-Twilio-Idempotency-Token is not signed:
    # a replayed STOP with a fresh token must still collapse with the first one.
    first = await connector.handle_callback(request("inbound", inbound("STOP"), token_header="a"))
    replay = await connector.handle_callback(request("inbound", inbound("STOP"), token_header="b"))
    assert [e.dedupe_key for e in first.events] == [e.dedupe_key for e in replay.events]
    assert first.events[1].dedupe_key == f"twilio:consent:{SID}:opt_out"
    status = {"MessageSid": SID, "MessageStatus": "delivered"}
    once = await connector.handle_callback(request("status", status, token_header="x"))
    twice = await connector.handle_callback(request("status", status, token_header="y"))
    assert once.events[0].dedupe_key == twice.events[0].dedupe_key
    later = await connector.handle_callback(
        request("status", dict(status, MessageStatus="read"), token_header="x")
    )
    assert later.events[0].dedupe_key != once.events[0].dedupe_key


async def test_a_get_webhook_is_verified_over_its_query(connector: TwilioConnector) -> None:
    params = inbound("hello")
    url = f"{BASE}/inbound?{urlencode(params)}"
    get = CallbackRequest(
        kind="inbound",
        url=url,
        method="GET",
        headers={"x-twilio-signature": RequestValidator(AUTH_TOKEN).compute_signature(url, {})},
        body=b"",
    )
    (message,) = (await connector.handle_callback(get)).events
    assert isinstance(message, InboundMessage) and message.body == "hello"
