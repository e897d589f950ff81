"""``send`` through the real twilio SDK against the sandbox: receipts, magic numbers, refusals."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import pytest

from relaykit import (
    AmbiguousSendError,
    Channel,
    MessageStatus,
    OptOutError,
    OutboundMessage,
    PermanentSendError,
    RateLimitedError,
    TransientSendError,
)
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import DEFAULT_MESSAGING_SERVICE_SID, TwilioSandbox
from tests.twilio.connector_fixtures import CallbackServer

TO = "+14155552671"


def sms(
    to: str = TO, body: str = "Bus 7 is running 10 minutes late.", **kw: Any
) -> OutboundMessage:
    return OutboundMessage(channel=Channel.SMS, to=to, body=body, **kw)


def whatsapp(to: str, body: str = "Reply YES to confirm.", **kw: Any) -> OutboundMessage:
    return OutboundMessage(channel=Channel.WHATSAPP, to=to, body=body, **kw)


@pytest.fixture
def connect(connect: Callable[..., TwilioConnector]) -> Callable[..., TwilioConnector]:
    """The shared ``connect``, with the sandbox's WhatsApp sender configured too."""
    return functools.partial(connect, whatsapp_sender="+15005550006")


async def test_sms_receipt_carries_sid_status_segments_and_encoding(
    sandbox_connector: TwilioConnector,
    twilio_sandbox: TwilioSandbox,
    callback_server: CallbackServer,
) -> None:
    receipt = await sandbox_connector.send(sms(" +1 (415) 555-2671 ", reference="msg-42"))
    (record,) = twilio_sandbox.messages
    assert receipt.provider_message_id == record.sid and record.sid.startswith("SM")
    assert receipt.status in (MessageStatus.QUEUED, MessageStatus.ACCEPTED)
    assert (receipt.channel, receipt.to) == (Channel.SMS, TO)
    assert (receipt.segments, receipt.encoding) == (1, "GSM-7")
    assert (record.to, record.from_, record.body) == (TO, "+15005550006", sms().body)
    assert record.status_callback == (
        f"{callback_server.url}/webhooks/north-high/sms/status?rk_ref=msg-42"
    )


async def test_ucs2_body_is_counted_in_the_receipt(sandbox_connector: TwilioConnector) -> None:
    receipt = await sandbox_connector.send(sms(body="😜" + "a" * 69))
    assert (receipt.segments, receipt.encoding) == (2, "UCS-2")


@pytest.mark.parametrize(
    ("to", "error", "code"),
    [
        ("+15005550001", PermanentSendError, "21211"),
        ("+15005550002", PermanentSendError, "21612"),
        ("+15005550003", PermanentSendError, "21408"),
        ("+15005550004", OptOutError, "21610"),
        ("+15005550009", PermanentSendError, "21614"),
    ],
)
async def test_each_magic_to_number_gives_its_documented_error_kind(
    sandbox_connector: TwilioConnector, to: str, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as raised:
        await sandbox_connector.send(sms(to))
    assert type(raised.value) is error
    assert raised.value.provider_code == code  # type: ignore[attr-defined]
    assert to in str(raised.value)


@pytest.mark.parametrize(
    ("sender", "error", "code"),
    [
        ("+15005550001", PermanentSendError, "21212"),
        ("+15005550008", RateLimitedError, "21611"),
        ("+15005559999", PermanentSendError, "21606"),
    ],
)
async def test_each_magic_from_number_gives_its_documented_error_kind(
    connect: Callable[..., TwilioConnector], sender: str, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as raised:
        await connect(sms_sender=sender).send(sms())
    assert type(raised.value) is error
    assert raised.value.provider_code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize("to", ["whatsapp:+14155552671", "+14155552671"])
async def test_whatsapp_addresses_both_ends_with_the_channel_prefix(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox, to: str
) -> None:
    receipt = await connect(whatsapp_sender="whatsapp:+15005550006").send(whatsapp(to))
    (record,) = twilio_sandbox.messages
    assert (record.to, record.from_) == ("whatsapp:+14155552671", "whatsapp:+15005550006")
    assert (receipt.channel, receipt.to) == (Channel.WHATSAPP, TO)
    assert (receipt.segments, receipt.encoding) == (None, None)


async def test_whatsapp_outside_the_24_hour_window_is_permanent(
    sandbox_connector: TwilioConnector,
) -> None:
    with pytest.raises(PermanentSendError) as raised:
        await sandbox_connector.send(whatsapp("whatsapp:+15005550016"))
    assert raised.value.provider_code == "63016"


async def test_an_sms_address_is_not_sent_as_whatsapp_by_mistake(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    with pytest.raises(
        PermanentSendError, match="is a whatsapp address, but this message goes by sms"
    ):
        await sandbox_connector.send(sms("whatsapp:+14155552671"))
    assert twilio_sandbox.create_attempts == 0


async def test_messaging_service_sender_goes_as_messaging_service_sid(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox
) -> None:
    await connect(sms_sender=DEFAULT_MESSAGING_SERVICE_SID).send(sms())
    (record,) = twilio_sandbox.messages
    assert record.messaging_service_sid == DEFAULT_MESSAGING_SERVICE_SID


async def test_a_per_message_sender_overrides_the_configured_one(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    with pytest.raises(PermanentSendError) as raised:
        await sandbox_connector.send(sms(sender="+15005550007"))  # owned, voice only
    assert raised.value.provider_code == "21606"
    with pytest.raises(PermanentSendError, match=r"message sender .* is not an E\.164"):
        await sandbox_connector.send(sms(sender="+1 555"))


async def test_media_urls_are_sent_as_repeated_media_url(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    media = ("https://cdn.example.org/a.jpg", "https://cdn.example.org/b.png")
    await sandbox_connector.send(sms(media_urls=media))
    assert twilio_sandbox.messages[0].media_urls == media


async def test_allowed_countries_refuse_before_any_api_call(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox
) -> None:
    connector = connect(allowed_countries=["GB", "IE"])
    with pytest.raises(PermanentSendError) as raised:
        await connector.send(sms(TO))
    assert "+14155552671 is in US, which is not in this instance's allowed_countries (GB, IE)" in (
        str(raised.value)
    )
    assert raised.value.provider_code is None
    assert twilio_sandbox.create_attempts == 0 and twilio_sandbox.messages == []
    await connector.send(sms("+447400123456"))
    assert twilio_sandbox.create_attempts == 1


async def test_a_bad_number_is_permanent_naming_it_and_never_sent(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    with pytest.raises(PermanentSendError, match=r"recipient '555-0100' has no country code"):
        await sandbox_connector.send(sms("555-0100"))
    with pytest.raises(PermanentSendError, match=r"recipient '\+1 415 555 2671 ext. 3'"):
        await sandbox_connector.send(sms("+1 415 555 2671 ext. 3"))
    assert twilio_sandbox.create_attempts == 0


async def test_default_region_reads_national_numbers(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox
) -> None:
    receipt = await connect(default_region="GB").send(sms("07400 123456"))
    assert receipt.to == twilio_sandbox.messages[0].to == "+447400123456"


async def test_max_body_length_is_enforced_before_sending(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox
) -> None:
    connector = connect(max_body_length=160)
    with pytest.raises(PermanentSendError, match="161 characters; this instance allows 160"):
        await connector.send(sms(body="a" * 161))
    assert twilio_sandbox.create_attempts == 0
    await connector.send(sms(body="a" * 160))
    with pytest.raises(PermanentSendError, match="1001 characters; this instance allows 1000"):
        await connect().send(sms(body="a" * 1001))


async def test_pitfall_29_a_500_is_posted_exactly_once(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    twilio_sandbox.faults.update(fail_creates=3)
    with pytest.raises(AmbiguousSendError) as raised:
        await sandbox_connector.send(sms())
    assert raised.value.provider_code == "20500"
    assert twilio_sandbox.create_attempts == 1  # the SDK did not retry behind our back
    assert twilio_sandbox.faults.fail_creates == 2


async def test_429_is_rate_limited_with_retry_after_from_the_raw_header(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    twilio_sandbox.faults.update(rate_limit_creates=1, retry_after=7)
    with pytest.raises(RateLimitedError) as raised:
        await sandbox_connector.send(sms())
    assert raised.value.retry_after == 7.0
    assert raised.value.provider_code == "20429"
    assert twilio_sandbox.create_attempts == 1 and twilio_sandbox.messages == []


async def test_retry_after_belongs_to_the_send_that_got_the_429(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    twilio_sandbox.faults.update(rate_limit_creates=1, retry_after=9)
    results = await asyncio.gather(
        *(sandbox_connector.send(sms(body=f"n{i}")) for i in range(12)), return_exceptions=True
    )
    limited = [r for r in results if isinstance(r, RateLimitedError)]
    assert len(limited) == 1 and limited[0].retry_after == 9.0
    assert len(twilio_sandbox.messages) == 11


async def test_a_503_without_retry_after_is_ambiguous(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    twilio_sandbox.faults.update(fail_creates=1, fail_status=503)
    with pytest.raises(AmbiguousSendError):
        await sandbox_connector.send(sms())


async def test_connection_refused_is_transient_not_ambiguous(
    connect: Callable[..., TwilioConnector],
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    connector = connect(api_base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientSendError) as raised:
        await connector.send(sms())
    assert type(raised.value) is TransientSendError
    assert "nothing was sent" in str(raised.value)


async def test_pitfall_30_one_setting_moves_every_sdk_host_without_monkeypatching(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox
) -> None:
    from relaykit_twilio._http import RelaykitHttpClient

    connector = connect(sms_sender=DEFAULT_MESSAGING_SERVICE_SID)
    assert (await connector.authenticate()).connected  # api.twilio.com and messaging.twilio.com
    client = connector._twilio()
    assert isinstance(client.http_client, RelaykitHttpClient)
    assert client.api.base_url == "https://api.twilio.com"  # the SDK itself is untouched
    rewrite = client.http_client.rewrite
    assert rewrite("https://messaging.twilio.com/v1/Services/MG1") == (
        f"{twilio_sandbox.url}/v1/Services/MG1"
    )
    assert rewrite("https://api.us1.twilio.com/2010-04-01/Accounts.json") == (
        f"{twilio_sandbox.url}/2010-04-01/Accounts.json"
    )
    assert rewrite("https://cdn.example.org/a.jpg") == "https://cdn.example.org/a.jpg"
    real = RelaykitHttpClient(api_base_url="https://api.twilio.com", timeout=5)
    assert real.rewrite("https://messaging.twilio.com/v1/Services/MG1") == (
        "https://messaging.twilio.com/v1/Services/MG1"
    )


async def test_one_sdk_client_serves_every_message_of_an_instance(
    sandbox_connector: TwilioConnector,
) -> None:
    await sandbox_connector.send(sms(body="one"))
    client = sandbox_connector._twilio()
    await asyncio.gather(*(sandbox_connector.send(sms(body=str(i))) for i in range(5)))
    assert sandbox_connector._twilio() is client
    await sandbox_connector.aclose()
    await sandbox_connector.send(sms(body="after close"))  # rebuilt lazily, still works


@pytest.mark.parametrize("channel", [Channel.EMAIL])
async def test_unsupported_channel_is_permanent(
    sandbox_connector: TwilioConnector, channel: Channel
) -> None:
    with pytest.raises(PermanentSendError, match="cannot send email messages"):
        await sandbox_connector.send(OutboundMessage(channel=channel, to=TO, body="x"))
