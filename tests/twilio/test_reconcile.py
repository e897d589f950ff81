"""Reconciliation: ``fetch_status`` (lost callbacks, PITFALLS 9), ``find_sent`` (lost sends, 24)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relaykit import (
    AmbiguousSendError,
    AuthenticationError,
    Channel,
    MessageStatus,
    OutboundMessage,
    PermanentSendError,
    StatusUpdate,
)
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import DEFAULT_MESSAGING_SERVICE_SID, TwilioSandbox
from tests.twilio.connector_fixtures import CallbackServer

TO = "+14155552671"


def sms(body: str = "Early dismissal at 1 pm today.", to: str = TO, **kw: Any) -> OutboundMessage:
    return OutboundMessage(channel=Channel.SMS, to=to, body=body, reference="msg-1", **kw)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("fault", ["drop_after_create", "fail_after_create"])
async def test_pitfall_24_a_maybe_sent_message_is_found_not_resent(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox, fault: str
) -> None:
    started = now()
    twilio_sandbox.faults.update(**{fault: 1})
    with pytest.raises(AmbiguousSendError):
        await sandbox_connector.send(sms())
    found = await sandbox_connector.find_sent(TO, "msg-1", started, body=sms().body)
    (created,) = twilio_sandbox.sent_to(TO)
    assert found is not None and found.provider_message_id == created.sid
    assert (found.to, found.channel, found.segments) == (TO, Channel.SMS, 1)


async def test_pitfall_24_a_timeout_after_sending_is_ambiguous_and_reconciled(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox
) -> None:
    connector = connect(request_timeout_seconds=0.2)
    started = now()
    twilio_sandbox.faults.update(latency_ms=600)  # the message is created, the answer is late
    with pytest.raises(AmbiguousSendError, match="after the request was sent"):
        await connector.send(sms())
    twilio_sandbox.faults.reset()
    found = await connector.find_sent(TO, "msg-1", started, body=sms().body)
    assert found is not None and [m.sid for m in twilio_sandbox.sent_to(TO)] == [
        found.provider_message_id
    ]


async def test_pitfall_24_a_dropped_request_that_created_nothing_is_safe_to_resend(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    started = now()
    twilio_sandbox.faults.update(drop_creates=1)
    with pytest.raises(AmbiguousSendError):
        await sandbox_connector.send(sms())
    assert await sandbox_connector.find_sent(TO, "msg-1", started, body=sms().body) is None
    await sandbox_connector.send(sms())
    assert len(twilio_sandbox.sent_to(TO)) == 1


async def test_find_sent_sees_a_message_still_queued(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    # A queued message has no DateSent, so a DateSent filter would miss exactly this one.
    twilio_sandbox.callback_delay = 30
    started = now()
    receipt = await sandbox_connector.send(sms())
    assert twilio_sandbox.sent_to(TO)[0].date_sent is None
    found = await sandbox_connector.find_sent(TO, "msg-1", started, body=sms().body)
    assert found is not None and found.provider_message_id == receipt.provider_message_id
    assert found.status is MessageStatus.QUEUED


async def test_find_sent_ignores_older_messages_other_bodies_and_other_senders(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox
) -> None:
    connector = connect(sms_sender="+15005550006")
    await connector.send(sms())  # the same notice, ten minutes before the lost attempt
    twilio_sandbox.messages[0].date_created -= timedelta(minutes=10)
    started = now()
    await connector.send(sms("A different notice."))
    await connect(sms_sender=DEFAULT_MESSAGING_SERVICE_SID).send(sms())
    assert await connector.find_sent(TO, "msg-1", started, body=sms().body) is None
    via_service = await connect(sms_sender=DEFAULT_MESSAGING_SERVICE_SID).find_sent(
        TO, "msg-1", started, body=sms().body
    )
    assert via_service is not None


async def test_find_sent_prefers_the_message_created_after_the_attempt_started(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    await sandbox_connector.send(sms())  # sent a moment earlier: within the clock-skew window
    started = now()
    twilio_sandbox.faults.update(drop_after_create=1)
    with pytest.raises(AmbiguousSendError):
        await sandbox_connector.send(sms())
    found = await sandbox_connector.find_sent(TO, "msg-1", started, body=sms().body)
    assert found is not None
    assert found.provider_message_id == twilio_sandbox.sent_to(TO)[-1].sid


async def test_find_sent_without_a_body_refuses_to_guess_between_candidates(
    sandbox_connector: TwilioConnector,
) -> None:
    started = now()
    first = await sandbox_connector.send(sms("one"))
    found = await sandbox_connector.find_sent(TO, "msg-1", started)
    assert found is not None and found.provider_message_id == first.provider_message_id
    await sandbox_connector.send(sms("two"))
    with pytest.raises(AmbiguousSendError, match="2 messages to this recipient"):
        await sandbox_connector.find_sent(TO, "msg-1", started)


async def test_find_sent_for_whatsapp_uses_the_channel_address(
    sandbox_connector: TwilioConnector,
) -> None:
    started = now()
    message = OutboundMessage(channel=Channel.WHATSAPP, to=TO, body="hi")
    receipt = await sandbox_connector.send(message)
    found = await sandbox_connector.find_sent(f"whatsapp:{TO}", "r", started, body="hi")
    assert found is not None and found.provider_message_id == receipt.provider_message_id
    assert found.channel == Channel.WHATSAPP


async def test_find_sent_errors_are_classified_like_any_other_call(
    connect: Callable[..., TwilioConnector],
) -> None:
    # The SDK raises a bare TwilioException for a refused list page, not TwilioRestException.
    with pytest.raises(AuthenticationError) as raised:
        await connect(auth_token="0" * 32).find_sent(TO, "msg-1", now(), body="x")
    assert raised.value.provider_code == "20003"


async def test_pitfall_9_fetch_status_recovers_a_lost_callback(
    sandbox_connector: TwilioConnector,
    twilio_sandbox: TwilioSandbox,
    callback_server: CallbackServer,
) -> None:
    twilio_sandbox.faults.update(lose_callbacks=2)  # Twilio gave up on both callbacks
    receipt = await sandbox_connector.send(sms())
    await twilio_sandbox.settle()
    assert callback_server.received == []
    update = await sandbox_connector.fetch_status(receipt.provider_message_id)
    assert update.status is MessageStatus.DELIVERED and update.status.is_final
    assert update.dedupe_key == f"twilio:status:{receipt.provider_message_id}:delivered"
    assert update.occurred_at is not None


async def test_pitfall_9_fetch_status_dedupes_with_the_callback_it_replaces(
    sandbox_connector: TwilioConnector,
    twilio_sandbox: TwilioSandbox,
    callback_server: CallbackServer,
) -> None:
    receipt = await sandbox_connector.send(sms())
    await twilio_sandbox.settle()
    await callback_server.wait_for(2)
    from_callback = callback_server.outcomes("status")[-1].events[0]
    polled = await sandbox_connector.fetch_status(receipt.provider_message_id)
    assert isinstance(from_callback, StatusUpdate)
    assert polled.dedupe_key == from_callback.dedupe_key


async def test_fetch_status_of_a_stuck_message_says_it_is_not_final(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    receipt = await sandbox_connector.send(sms(to="+15005550033"))
    await twilio_sandbox.settle()
    update = await sandbox_connector.fetch_status(receipt.provider_message_id)
    assert update.status is MessageStatus.SENT and not update.status.is_final


async def test_fetch_status_reports_the_delivery_error(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    receipt = await sandbox_connector.send(sms(to="+15005550030"))
    await twilio_sandbox.settle()
    update = await sandbox_connector.fetch_status(receipt.provider_message_id)
    assert (update.status, update.error_code) == (MessageStatus.UNDELIVERED, "30003")


async def test_fetch_status_of_an_unknown_message_is_permanent(
    sandbox_connector: TwilioConnector,
) -> None:
    with pytest.raises(PermanentSendError) as raised:
        await sandbox_connector.fetch_status("SM" + "0" * 32)
    assert raised.value.provider_code == "20404"
