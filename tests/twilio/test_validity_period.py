"""Twilio's ``ValidityPeriod`` through the real SDK: sent, refused out of range, and expiry.

A message that waits in Twilio's outgoing queue longer than its validity
period is not sent: it fails with 30036 "Validity Period Expired"
(https://www.twilio.com/docs/api/errors/30036); the sandbox models the queue
with its ``queue_ms`` knob.
"""

from __future__ import annotations

import pytest

from relaykit import Channel, MessageStatus, OutboundMessage, PermanentSendError
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import TwilioSandbox

TO = "+14155552671"


def otp(validity_period: int | None) -> OutboundMessage:
    return OutboundMessage(
        Channel.SMS, TO, "Your code is 482193.", reference="otp-1", validity_period=validity_period
    )


async def test_the_validity_period_reaches_twilio_with_the_message(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    await sandbox_connector.send(otp(30))
    await sandbox_connector.send(otp(None))

    assert [m.validity_period for m in twilio_sandbox.messages] == [30, None]
    await twilio_sandbox.settle()
    assert [m.status for m in twilio_sandbox.messages] == ["delivered", "delivered"]


@pytest.mark.parametrize("period", [0, 36001])
async def test_a_validity_period_out_of_twilios_range_is_refused_with_90007(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox, period: int
) -> None:
    with pytest.raises(PermanentSendError) as refused:
        await sandbox_connector.send(otp(period))

    assert refused.value.provider_code == "90007"
    assert twilio_sandbox.messages == []


async def test_a_message_queued_longer_than_its_validity_period_fails_with_30036(
    sandbox_connector: TwilioConnector, twilio_sandbox: TwilioSandbox
) -> None:
    twilio_sandbox.faults.queue_ms = 1500  # a backlog ahead of it at Twilio

    receipt = await sandbox_connector.send(otp(1))
    await sandbox_connector.send(otp(2))
    await twilio_sandbox.settle()

    expired, kept = twilio_sandbox.messages
    assert receipt.status == MessageStatus.QUEUED
    assert (expired.status, expired.error_code, expired.date_sent) == ("failed", 30036, None)
    assert expired.error_message == "Validity Period Expired"
    assert (kept.status, kept.error_code) == ("delivered", None)
    status = await sandbox_connector.fetch_status(expired.sid)
    assert (status.status, status.error_code) == (MessageStatus.FAILED, "30036")
