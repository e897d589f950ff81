"""Bounce webhooks: verified with HMAC-SHA256, RFC 3464 reports mapped to status updates."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from relaykit import (
    CallbackParseError,
    CallbackRequest,
    CallbackVerificationError,
    Channel,
    MessageStatus,
    OutboundMessage,
    SendReceipt,
)
from relaykit_email import EmailConnector
from tests.email.conftest import BOUNCE_SECRET, Relay
from tests.email.dsn import delivery_report

URL = "https://relay.example.org/webhooks/north-high/email/bounce"


def signed(body: bytes, secret: str = BOUNCE_SECRET, *, kind: str = "bounce") -> CallbackRequest:
    """A request as the gateway sends it; the signature is computed here, independently."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return CallbackRequest(
        kind=kind,
        url=URL,
        method="POST",
        headers={"x-relaykit-signature": signature, "content-type": "message/rfc822"},
        body=body,
        content_type="message/rfc822",
    )


@pytest.fixture
async def sent(relay: Relay) -> tuple[EmailConnector, SendReceipt, bytes]:
    """A message really sent through the relay: the connector, its receipt, the bytes received."""
    connector = relay.connector()
    receipt = await connector.send(
        OutboundMessage(
            channel=Channel.EMAIL,
            to="parent@example.org",
            body="Zoë was absent today.",
            subject="Attendance",
            reference="msg-000123",
        )
    )
    return connector, receipt, relay.sink.received[-1].content


@pytest.mark.parametrize("returned", ["message/rfc822", "text/rfc822-headers"])
async def test_hard_bounce_fails_the_original_message(
    sent: tuple[EmailConnector, SendReceipt, bytes], returned: str
) -> None:
    connector, receipt, original = sent

    outcome = await connector.handle_callback(signed(delivery_report(original, returned=returned)))

    (update,) = outcome.events
    assert update.status is MessageStatus.FAILED
    assert update.provider_message_id == receipt.provider_message_id
    assert update.reference == "msg-000123"
    assert update.error_code == "5.1.1"
    assert update.error_message == "550 5.1.1 <parent@example.org>: Recipient address rejected"
    assert update.occurred_at == datetime(2025, 11, 25, 14, 37, 10, tzinfo=UTC)
    assert update.dedupe_key


async def test_replayed_bounce_carries_the_same_dedupe_key(
    sent: tuple[EmailConnector, SendReceipt, bytes],
) -> None:
    connector, _, original = sent
    body = delivery_report(original)

    first = await connector.handle_callback(signed(body))
    again = await connector.handle_callback(signed(body))
    other = await connector.handle_callback(signed(delivery_report(original, status="5.2.2")))

    assert first.events[0].dedupe_key == again.events[0].dedupe_key
    assert first.events[0].dedupe_key != other.events[0].dedupe_key


async def test_delayed_is_ignored_and_delivered_is_delivered(
    sent: tuple[EmailConnector, SendReceipt, bytes],
) -> None:
    connector, receipt, original = sent

    delayed = await connector.handle_callback(
        signed(delivery_report(original, action="delayed", status="4.4.1"))
    )
    delivered = await connector.handle_callback(
        signed(delivery_report(original, action="delivered", status="2.0.0"))
    )

    assert delayed.events == ()
    (update,) = delivered.events
    assert update.status is MessageStatus.DELIVERED
    assert update.provider_message_id == receipt.provider_message_id
    assert update.error_code is None


async def test_envelope_id_identifies_the_message_when_nothing_is_returned(
    sent: tuple[EmailConnector, SendReceipt, bytes],
) -> None:
    connector, _, original = sent
    body = delivery_report(original, returned=None, envelope_id="+3Cabc.123+40example.com+3E")

    (update,) = (await connector.handle_callback(signed(body))).events

    assert update.provider_message_id == "<abc.123@example.com>"
    assert update.reference is None


@pytest.mark.parametrize(
    "tamper",
    ["missing", "empty", "wrong-secret", "body-changed", "non-ascii", "no-prefix"],
)
async def test_unverifiable_bounce_is_refused(
    sent: tuple[EmailConnector, SendReceipt, bytes], tamper: str
) -> None:
    connector, _, original = sent
    body = delivery_report(original)
    request = signed(body)
    headers = dict(request.headers)
    if tamper == "missing":
        del headers["x-relaykit-signature"]
    elif tamper == "empty":
        headers["x-relaykit-signature"] = ""
    elif tamper == "wrong-secret":
        headers = dict(signed(body, "another-secret-0000000").headers)
    elif tamper == "body-changed":
        body = body.replace(b"5.1.1", b"2.0.0")
    elif tamper == "non-ascii":
        headers["x-relaykit-signature"] = "sha256=ä" + "0" * 63
    elif tamper == "no-prefix":
        headers["x-relaykit-signature"] = headers["x-relaykit-signature"].removeprefix("sha256=")
    forged = CallbackRequest(kind="bounce", url=URL, method="POST", headers=headers, body=body)

    with pytest.raises(CallbackVerificationError):
        await connector.handle_callback(forged)


async def test_without_a_bounce_secret_every_bounce_is_refused(relay: Relay) -> None:
    connector = relay.connector(bounce_secret=None)

    with pytest.raises(CallbackVerificationError, match="bounce_secret"):
        await connector.handle_callback(signed(b"anything"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "multipart/report"),
        (b"Subject: out of office\r\n\r\nI am away until Monday.\r\n", "multipart/report"),
        (
            b'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"'
            b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nread\r\n--b--\r\n",
            "multipart/report",
        ),
        (
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"'
            b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nno status part\r\n--b--\r\n",
            "message/delivery-status",
        ),
    ],
    ids=["empty", "not-a-report", "read-receipt", "no-status-part"],
)
async def test_verified_but_unreadable_bounce_is_a_parse_error(
    relay: Relay, body: bytes, reason: str
) -> None:
    with pytest.raises(CallbackParseError, match=reason):
        await relay.connector().handle_callback(signed(body))


async def test_report_that_names_no_message_is_a_parse_error(
    sent: tuple[EmailConnector, SendReceipt, bytes],
) -> None:
    connector, _, original = sent

    with pytest.raises(CallbackParseError, match="names no original Message-ID"):
        await connector.handle_callback(signed(delivery_report(original, returned=None)))


async def test_invalid_status_code_is_a_parse_error(
    sent: tuple[EmailConnector, SendReceipt, bytes],
) -> None:
    connector, _, original = sent

    with pytest.raises(CallbackParseError, match="invalid Status"):
        await connector.handle_callback(signed(delivery_report(original, status="bounced")))


async def test_other_callback_kinds_are_refused(
    sent: tuple[EmailConnector, SendReceipt, bytes],
) -> None:
    connector, _, original = sent

    with pytest.raises(CallbackParseError, match="only 'bounce'"):
        await connector.handle_callback(signed(delivery_report(original), kind="status"))


async def test_sign_bounce_produces_the_header_the_connector_accepts(
    sent: tuple[EmailConnector, SendReceipt, bytes],
) -> None:
    from relaykit_email.signing import SIGNATURE_HEADER, sign_bounce

    connector, receipt, original = sent
    body = delivery_report(original)
    request = CallbackRequest(
        kind="bounce",
        url=URL,
        method="POST",
        headers={SIGNATURE_HEADER.lower(): sign_bounce(body, BOUNCE_SECRET)},
        body=body,
    )

    assert sign_bounce(body, BOUNCE_SECRET) == signed(body).headers["x-relaykit-signature"]
    (update,) = (await connector.handle_callback(request)).events
    assert update.provider_message_id == receipt.provider_message_id
