"""Secret canaries: the Auth Token never reaches logs, errors or reprs (PITFALLS 4).

The twilio SDK logs every request at INFO (URL, query, headers but
"authorization", response headers). relaykit's logging holds
``twilio.http_client`` at WARNING and redacts; these tests also turn that
logger up to DEBUG and read the *unredacted* records, so the connector is
shown not to hand the token to the SDK's log in the first place. Every search
covers raw, URL-encoded, hex and base64 (at any alignment) forms, which is how
Basic auth would carry it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator

import pytest

from relaykit import (
    Channel,
    ConnectorError,
    InstanceConfig,
    OutboundMessage,
)
from relaykit.testing import assert_no_secret, captured_logs
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import IncomingNumber, SandboxAccount, TwilioSandbox

CANARY = "canary" + secrets.token_hex(13)
SEND_TIMEOUT_SECONDS = 2.0


class RawRecords(logging.Handler):
    """Every stdlib log record's message and arguments, before any redaction."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.args!r}")


@pytest.fixture
def raw_records() -> Iterator[RawRecords]:
    handler = RawRecords()
    root = logging.getLogger()
    sdk = logging.getLogger("twilio.http_client")
    saved = sdk.level
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        sdk.setLevel(saved)


@pytest.fixture
def canary_connector(
    twilio_sandbox: TwilioSandbox,
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
) -> TwilioConnector:
    account = twilio_sandbox.add_account(
        SandboxAccount(auth_token=CANARY, numbers=[IncomingNumber("+15005550006")])
    )
    config = twilio_config(
        account_sid=account.sid,
        auth_token=CANARY,
        api_base_url=twilio_sandbox.url,
        # Generous enough for a loaded CI machine; the slow fault below exceeds it.
        request_timeout_seconds=SEND_TIMEOUT_SECONDS,
    )
    return make_twilio_connector(config)


async def exercise(connector: TwilioConnector, sandbox: TwilioSandbox) -> list[str]:
    """Succeed, fail every way, and return every error text and repr seen."""
    seen = [repr(connector), str(connector), repr(connector.settings)]
    status = await connector.authenticate()
    assert status.connected, status.detail
    seen.append(status.detail)
    await connector.send(OutboundMessage(Channel.SMS, "+14155552671", "hello", reference="r"))
    for fault in ("", "rate_limit_creates", "fail_after_create", "drop_after_create"):
        if fault:
            sandbox.faults.update(**{fault: 1})
        to = "+14155552671" if fault else "+15005550001"  # 21211 without a fault
        with pytest.raises(ConnectorError) as error:
            await connector.send(OutboundMessage(Channel.SMS, to, "x"))
        seen += [str(error.value), repr(error.value), repr(error.value.__cause__)]
    sandbox.faults.update(latency_ms=int(SEND_TIMEOUT_SECONDS * 1000) + 600)
    with pytest.raises(ConnectorError) as error:
        await connector.send(OutboundMessage(Channel.SMS, "+14155552671", "slow"))
    seen += [str(error.value), repr(error.value.__cause__)]
    sandbox.faults.reset()
    return seen


async def test_pitfall_4_sdk_request_log_at_debug_never_holds_the_token(
    canary_connector: TwilioConnector, twilio_sandbox: TwilioSandbox, raw_records: RawRecords
) -> None:
    with captured_logs(level="debug") as rendered:
        logging.getLogger("twilio.http_client").setLevel(logging.DEBUG)  # defeat the hold
        seen = await exercise(canary_connector, twilio_sandbox)
    raw = "\n".join(raw_records.lines)
    assert "-- BEGIN Twilio API Request --" in raw  # the SDK really logged every request
    assert "Response Headers" in raw
    assert_no_secret(raw, [CANARY], where="unredacted log records")
    assert_no_secret(rendered.getvalue(), [CANARY], where="rendered JSON logs")
    assert_no_secret("\n".join(seen), [CANARY], where="errors, statuses and reprs")


async def test_pitfall_4_the_sdk_log_goes_where_relaykit_holds_it_at_warning(
    canary_connector: TwilioConnector, raw_records: RawRecords
) -> None:
    with captured_logs(level="debug") as rendered:
        assert (await canary_connector.authenticate()).connected
    # Our HTTP client logs as twilio.http_client (held at WARNING by configure_logging),
    # not as the SDK's own twilio.async_http_client, which nothing holds.
    assert not [line for line in raw_records.lines if line.startswith("twilio.")]
    assert "Twilio API Request" not in rendered.getvalue()
    http = canary_connector._twilio().http_client
    assert http.logger.name == "twilio.http_client"


async def test_callback_refusals_and_reprs_hold_no_token(
    canary_connector: TwilioConnector,
) -> None:
    from relaykit import CallbackRequest, CallbackVerificationError

    request = CallbackRequest(
        kind="status",
        url="https://relay.example.org/webhooks/north-high/sms/status",
        method="POST",
        headers={"x-twilio-signature": "bm90LWEtc2lnbmF0dXJl"},
        body=b"MessageSid=SM1&MessageStatus=sent",
    )
    with pytest.raises(CallbackVerificationError) as error:
        await canary_connector.handle_callback(request)
    assert_no_secret(
        f"{error.value} {error.value!r} {canary_connector!r} {canary_connector.config!r}",
        [CANARY],
        where="a refusal",
    )
