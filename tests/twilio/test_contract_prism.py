"""Contract tests: every request the connector makes passes Prism serving Twilio's official spec.

``prism mock`` answers 422 to a request that breaks ``twilio_api_v2010.yaml``
and 401 without credentials, so a call that gets the mock's 2xx is a call the
spec accepts. The mock only knows success answers (PITFALLS 28), so error
paths go through ``prism proxy --errors`` in front of the sandbox: the proxy
validates each request before passing it on, and the sandbox answers with
Twilio's error. Each request's status is read from the SDK's own request log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from relaykit import (
    AmbiguousSendError,
    Channel,
    ConnectionState,
    InstanceConfig,
    OptOutError,
    OutboundMessage,
    PermanentSendError,
    ProviderTemplate,
    RateLimitedError,
)
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import TwilioSandbox

pytestmark = pytest.mark.prism

MOCK_ACCOUNT = "AC" + "ab" * 16
MOCK_TOKEN = "prism-mock-token"
MEDIA = ("https://cdn.example.org/a.jpg", "https://cdn.example.org/b.png")


class StatusLog(logging.Handler):
    """The HTTP status of every answer, from the SDK's ``Response Status Code:`` log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.statuses: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Response Status Code: "):
            self.statuses.append(int(message.rsplit(" ", 1)[1]))


@pytest.fixture
def answers() -> Iterator[StatusLog]:
    handler = StatusLog()
    logger = logging.getLogger("twilio.http_client")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


@pytest.fixture
def mock_connector(
    prism_mock_url: str,
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
) -> TwilioConnector:
    config = twilio_config(
        account_sid=MOCK_ACCOUNT,
        auth_token=MOCK_TOKEN,
        sms_sender="+15005550006",
        whatsapp_sender="whatsapp:+15005550006",
        api_base_url=prism_mock_url,
    )
    return make_twilio_connector(config)


@pytest.fixture
def proxy_connector(
    prism_proxy_url: str,
    prism_proxy_sandbox: TwilioSandbox,
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
) -> TwilioConnector:
    config = twilio_config(
        account_sid=prism_proxy_sandbox.account_sid,
        auth_token=prism_proxy_sandbox.auth_token,
        api_base_url=prism_proxy_url,
    )
    return make_twilio_connector(config)


async def test_sms_send_passes_the_spec(
    mock_connector: TwilioConnector, answers: StatusLog
) -> None:
    receipt = await mock_connector.send(
        OutboundMessage(Channel.SMS, "+14155552671", "Bus 7 is late.", reference="ref-1")
    )
    assert answers.statuses == [201]
    assert receipt.provider_message_id.startswith("SM")


async def test_whatsapp_send_passes_the_spec(
    mock_connector: TwilioConnector, answers: StatusLog
) -> None:
    await mock_connector.send(OutboundMessage(Channel.WHATSAPP, "whatsapp:+14155552671", "Hi"))
    assert answers.statuses == [201]


async def test_whatsapp_content_template_send_passes_the_spec(
    mock_connector: TwilioConnector, answers: StatusLog
) -> None:
    template = ProviderTemplate("HX" + "0123456789abcdef" * 2, {"1": "Sam", "2": "4 Dec"})
    await mock_connector.send(
        OutboundMessage(Channel.WHATSAPP, "whatsapp:+14155552671", "Sam absent", template=template)
    )
    assert answers.statuses == [201]


async def test_send_with_two_media_urls_passes_the_spec(
    mock_connector: TwilioConnector, answers: StatusLog
) -> None:
    message = OutboundMessage(Channel.SMS, "+14155552671", "Forms attached", media_urls=MEDIA)
    await mock_connector.send(message)
    assert answers.statuses == [201]


async def test_an_otp_with_a_validity_period_passes_the_spec(
    mock_connector: TwilioConnector, answers: StatusLog
) -> None:
    message = OutboundMessage(Channel.SMS, "+14155552671", "Code 482193", validity_period=30)
    await mock_connector.send(message)
    assert answers.statuses == [201]


async def test_send_through_a_messaging_service_passes_the_spec(
    prism_mock_url: str,
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
    answers: StatusLog,
) -> None:
    config = twilio_config(
        account_sid=MOCK_ACCOUNT,
        auth_token=MOCK_TOKEN,
        sms_sender="MG" + "cd" * 16,
        api_base_url=prism_mock_url,
    )
    await make_twilio_connector(config).send(OutboundMessage(Channel.SMS, "+14155552671", "x"))
    assert answers.statuses == [201]


async def test_authenticate_calls_pass_the_spec(
    mock_connector: TwilioConnector, answers: StatusLog
) -> None:
    status = await mock_connector.authenticate()
    # account fetch + incoming numbers of the SMS sender: accepted by the mock. The WhatsApp
    # sender is looked up in Messaging v2 Channels Senders, which the spec copy (API v2010
    # only) lacks: the mock's 404 leaves it unchecked, reported so, not "Connected".
    assert answers.statuses == [200, 200, 404]
    assert status.state is ConnectionState.SENDER_NOT_VERIFIED
    [whatsapp] = [s for s in status.senders if s.role == "whatsapp_sender"]
    assert not whatsapp.ok and whatsapp.detail.startswith("could not be checked")


async def test_reconciliation_reads_pass_the_spec(
    mock_connector: TwilioConnector, answers: StatusLog
) -> None:
    await mock_connector.fetch_status("SM" + "ef" * 16)
    assert answers.statuses == [200]
    await mock_connector.find_sent("+14155552671", "ref-1", datetime.now(UTC), body="x")
    # the mock's example page always links a next page: every page request must pass too
    assert len(answers.statuses) > 2 and set(answers.statuses) == {200}


async def test_the_mock_would_catch_a_request_without_credentials(prism_mock_url: str) -> None:
    import aiohttp

    url = f"{prism_mock_url}/2010-04-01/Accounts/{MOCK_ACCOUNT}/Messages.json"
    async with aiohttp.ClientSession() as session:
        form = {"To": "+14155552671", "From": "+15005550006", "Body": "x"}
        async with session.post(url, data=form) as answer:
            assert answer.status == 401
        async with session.post(
            url, data={"Body": "no recipient"}, headers={"Authorization": "Basic YTpi"}
        ) as answer:
            assert answer.status == 422  # so the 201s above are real acceptances


# -- error paths through prism proxy --errors -----------------------------------------------


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
async def test_refused_sends_pass_the_proxy_and_keep_twilios_code(
    proxy_connector: TwilioConnector,
    prism_proxy_sandbox: TwilioSandbox,
    to: str,
    error: type[PermanentSendError],
    code: str,
) -> None:
    with pytest.raises(error) as raised:
        await proxy_connector.send(OutboundMessage(Channel.SMS, to, "x"))
    assert raised.value.provider_code == code  # the sandbox answered: Prism let it through
    assert prism_proxy_sandbox.create_attempts == 1


async def test_an_unknown_content_sid_passes_the_proxy_and_keeps_21655(
    proxy_connector: TwilioConnector, prism_proxy_sandbox: TwilioSandbox
) -> None:
    template = ProviderTemplate("HX" + "f" * 32, {"1": "Sam"})
    with pytest.raises(PermanentSendError) as raised:
        await proxy_connector.send(
            OutboundMessage(Channel.SMS, "+14155552671", "x", template=template)
        )
    assert raised.value.provider_code == "21655"
    assert prism_proxy_sandbox.create_attempts == 1


async def test_rate_limit_and_server_errors_pass_the_proxy(
    proxy_connector: TwilioConnector, prism_proxy_sandbox: TwilioSandbox
) -> None:
    prism_proxy_sandbox.faults.update(rate_limit_creates=1, retry_after=4)
    with pytest.raises(RateLimitedError) as limited:
        await proxy_connector.send(OutboundMessage(Channel.SMS, "+14155552671", "x"))
    assert limited.value.provider_code == "20429" and limited.value.retry_after == 4.0
    prism_proxy_sandbox.faults.update(fail_creates=1)
    with pytest.raises(AmbiguousSendError) as failed:
        await proxy_connector.send(OutboundMessage(Channel.SMS, "+14155552671", "x"))
    assert failed.value.provider_code == "20500"
    assert prism_proxy_sandbox.create_attempts == 2


async def test_a_successful_send_and_its_answer_pass_the_proxy(
    proxy_connector: TwilioConnector, prism_proxy_sandbox: TwilioSandbox
) -> None:
    receipt = await proxy_connector.send(
        OutboundMessage(Channel.SMS, "+14155552671", "ok", media_urls=MEDIA)
    )
    (record,) = prism_proxy_sandbox.messages
    assert receipt.provider_message_id == record.sid and record.media_urls == MEDIA


async def test_a_validity_period_passes_the_proxy_to_the_sandbox(
    proxy_connector: TwilioConnector, prism_proxy_sandbox: TwilioSandbox
) -> None:
    await proxy_connector.send(
        OutboundMessage(Channel.SMS, "+14155552671", "Code 482193", validity_period=30)
    )
    (record,) = prism_proxy_sandbox.messages
    assert record.validity_period == 30
