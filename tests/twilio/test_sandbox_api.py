"""The sandbox's REST API: bodies shaped as Twilio's official spec, auth, lists and filters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from relaykit_twilio_sandbox import (
    DEFAULT_MESSAGING_SERVICE_SID,
    DEFAULT_SMS_NUMBER,
    IncomingNumber,
    SandboxAccount,
    TwilioSandbox,
    WhatsAppSender,
)
from tests.twilio.sandbox_fixtures import TwilioSpec, basic_auth

ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
MESSAGES = ACCOUNT + "/Messages.json"
RECIPIENT = "+15551230001"
ERROR_KEYS = {"code", "message", "more_info", "status"}


class Api:
    """Raw HTTP against the sandbox, authenticated as its default account."""

    def __init__(self, sandbox: TwilioSandbox, session: aiohttp.ClientSession) -> None:
        self.sb = sandbox
        self.session = session
        self.auth = basic_auth(sandbox.account_sid, sandbox.auth_token)
        self.base = f"{sandbox.url}/2010-04-01/Accounts/{sandbox.account_sid}"

    async def call(
        self, method: str, path: str, *, auth: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        url = path if path.startswith("http") else self.base + path
        headers = self.auth if auth is None else auth
        async with self.session.request(method, url, headers=headers, **kwargs) as response:
            return response.status, await response.json()

    async def send(self, to: str = RECIPIENT, **fields: Any) -> tuple[int, Any]:
        data = {"To": to, "From": DEFAULT_SMS_NUMBER, "Body": "hello", **fields}
        return await self.call("POST", "/Messages.json", data=data)


@pytest.fixture
async def api(twilio_sandbox: TwilioSandbox) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(twilio_sandbox, session)


@pytest.fixture
async def sdk(twilio_sandbox: TwilioSandbox) -> AsyncIterator[Client]:
    """The real twilio SDK (async), its hosts pointed at the sandbox (PITFALLS 30)."""
    http = AsyncTwilioHttpClient()
    client = Client(twilio_sandbox.account_sid, twilio_sandbox.auth_token, http_client=http)
    client.api.base_url = twilio_sandbox.url
    client.messaging.base_url = twilio_sandbox.url
    try:
        yield client
    finally:
        await http.close()


# -- shapes ---------------------------------------------------------------------------------


async def test_account_fetch_matches_the_spec(api: Api, twilio_spec: TwilioSpec) -> None:
    status, body = await api.call("GET", ".json")
    assert status == 200
    assert twilio_spec.component_errors("api.v2010.account", body) == []
    assert body["sid"] == api.sb.account_sid
    assert body["status"] == "active"


async def test_created_message_matches_the_spec(api: Api, twilio_spec: TwilioSpec) -> None:
    status, body = await api.send(MediaUrl=["https://example.com/a.png"])
    assert status == 201
    assert twilio_spec.response_errors(MESSAGES, "post", 201, body) == []
    assert (body["status"], body["to"], body["num_media"]) == ("queued", RECIPIENT, "1")


async def test_fetched_message_matches_the_spec_once_delivered(
    api: Api, twilio_spec: TwilioSpec
) -> None:
    _, created = await api.send()
    await api.sb.settle()
    status, body = await api.call("GET", f"/Messages/{created['sid']}.json")
    assert status == 200
    assert twilio_spec.component_errors("api.v2010.account.message", body) == []
    assert body["status"] == "delivered"
    assert body["date_sent"] is not None and body["price"] is not None


async def test_message_list_matches_the_spec(api: Api, twilio_spec: TwilioSpec) -> None:
    await api.send()
    status, body = await api.call("GET", "/Messages.json")
    assert status == 200
    assert twilio_spec.response_errors(MESSAGES, "get", 200, body) == []


async def test_number_list_matches_the_spec(api: Api, twilio_spec: TwilioSpec) -> None:
    status, body = await api.call("GET", "/IncomingPhoneNumbers.json")
    assert status == 200
    path = ACCOUNT + "/IncomingPhoneNumbers.json"
    assert twilio_spec.response_errors(path, "get", 200, body) == []


def test_strict_validation_catches_a_missing_field(twilio_spec: TwilioSpec) -> None:
    """The spec alone requires nothing (PITFALLS 28); our strict reading must."""
    body = {"sid": "SM" + "0" * 32, "status": "queued"}
    errors = twilio_spec.component_errors("api.v2010.account.message", body)
    assert any("'body' is a required property" in e for e in errors)


async def test_error_bodies_have_twilios_four_fields(api: Api) -> None:
    status, body = await api.send(to="not-a-number")
    assert status == 400
    assert set(body) == ERROR_KEYS
    assert body["code"] == 21211 and body["status"] == 400
    assert body["more_info"] == "https://www.twilio.com/docs/errors/21211"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"To": ""}, 21604),
        ({"From": ""}, 21603),
        ({"Body": ""}, 21602),
        ({"Body": "x" * 1601}, 21617),
        ({"From": "+15551239999"}, 21606),
        ({"From": "+15005550007"}, 21606),  # owned but voice-only
        ({"From": "whatsapp:+15005550006"}, 21910),  # channel mismatch
        ({"MessagingServiceSid": "MG" + "1" * 32, "From": ""}, 21701),
    ],
)
async def test_bad_create_requests_get_twilios_codes(
    api: Api, fields: dict[str, str], code: int
) -> None:
    status, body = await api.send(**fields)
    assert (status, body["code"]) == (400, code)
    assert api.sb.messages == []


async def test_alphanumeric_sender_is_accepted(api: Api) -> None:
    status, body = await api.send(From="Relay Kit")
    assert status == 201 and body["from"] == "Relay Kit"


async def test_unknown_path_is_a_twilio_404(api: Api) -> None:
    status, body = await api.call("GET", "/Nothing.json")
    assert (status, body["code"]) == (404, 20404)


# -- auth -----------------------------------------------------------------------------------


async def test_missing_credentials_get_401_20003(api: Api) -> None:
    status, body = await api.call("GET", ".json", auth={})
    assert (status, body["code"]) == (401, 20003)
    assert set(body) == ERROR_KEYS


async def test_wrong_token_gets_401_20003_and_creates_nothing(api: Api) -> None:
    auth = basic_auth(api.sb.account_sid, "0" * 32)
    status, body = await api.call(
        "POST", "/Messages.json", auth=auth, data={"To": RECIPIENT, "Body": "x"}
    )
    assert (status, body["code"]) == (401, 20003)
    assert api.sb.create_attempts == 0 and api.sb.messages == []
    assert api.sb.auth_token not in body["message"]


async def test_another_accounts_path_is_not_found(api: Api) -> None:
    other = api.sb.add_account(SandboxAccount())
    status, body = await api.call("GET", f"{api.sb.url}/2010-04-01/Accounts/{other.sid}.json")
    assert (status, body["code"]) == (404, 20404)


@pytest.mark.parametrize("state", ["suspended", "closed"])
async def test_inactive_account_is_readable_but_cannot_send(api: Api, state: str) -> None:
    account = api.sb.add_account(SandboxAccount(status=state))  # type: ignore[arg-type]
    base = f"{api.sb.url}/2010-04-01/Accounts/{account.sid}"
    auth = basic_auth(account.sid, account.auth_token)
    status, body = await api.call("GET", base + ".json", auth=auth)
    assert (status, body["status"]) == (200, state)
    data = {"To": RECIPIENT, "From": DEFAULT_SMS_NUMBER, "Body": "x"}
    status, body = await api.call("POST", base + "/Messages.json", auth=auth, data=data)
    assert (status, body["code"]) == (403, 10001)


# -- numbers and services -------------------------------------------------------------------


async def test_number_filter_finds_the_sender_and_its_capabilities(sdk: Client) -> None:
    numbers = await sdk.incoming_phone_numbers.list_async(phone_number=DEFAULT_SMS_NUMBER)
    assert [n.phone_number for n in numbers] == [DEFAULT_SMS_NUMBER]
    assert numbers[0].capabilities["sms"] is True
    assert await sdk.incoming_phone_numbers.list_async(phone_number="+15559999999") == []


async def test_setting_a_numbers_sms_url_through_the_sdk(
    sdk: Client, twilio_sandbox: TwilioSandbox
) -> None:
    (number,) = await sdk.incoming_phone_numbers.list_async(phone_number=DEFAULT_SMS_NUMBER)
    updated = await sdk.incoming_phone_numbers(number.sid).update_async(
        sms_url="https://example.com/in"
    )
    assert updated.sms_url == "https://example.com/in"
    assert twilio_sandbox.default_account.number(DEFAULT_SMS_NUMBER).sms_url == updated.sms_url  # type: ignore[union-attr]


async def test_messaging_service_fetch_on_the_same_server(sdk: Client) -> None:
    service = await sdk.messaging.v1.services(DEFAULT_MESSAGING_SERVICE_SID).fetch_async()
    assert service.sid == DEFAULT_MESSAGING_SERVICE_SID
    assert isinstance(service.date_created, datetime)
    with pytest.raises(TwilioRestException) as excinfo:
        await sdk.messaging.v1.services("MG" + "0" * 32).fetch_async()
    assert (excinfo.value.status, excinfo.value.code) == (404, 20404)


async def test_send_through_a_messaging_service_is_accepted_then_gets_a_sender(
    api: Api,
) -> None:
    status, body = await api.send(From="", MessagingServiceSid=DEFAULT_MESSAGING_SERVICE_SID)
    assert (status, body["status"], body["from"]) == (201, "accepted", None)
    await api.sb.settle()
    _, fetched = await api.call("GET", f"/Messages/{body['sid']}.json")
    assert (fetched["status"], fetched["from"]) == ("delivered", DEFAULT_SMS_NUMBER)
    assert fetched["messaging_service_sid"] == DEFAULT_MESSAGING_SERVICE_SID


# -- WhatsApp senders (messaging v2) --------------------------------------------------------


async def test_whatsapp_senders_list_through_the_sdk_pages_and_only_online_ones_send(
    sdk: Client, api: Api, twilio_sandbox: TwilioSandbox
) -> None:
    account = twilio_sandbox.default_account
    pending = [WhatsAppSender(f"+1500555{n:04d}", status="PENDING_VERIFICATION") for n in range(3)]
    account.whatsapp_senders += pending

    senders = await sdk.messaging.v2.channels_senders.list_async(channel="whatsapp", page_size=2)

    by_id = {s.sender_id: s.status for s in senders}
    assert by_id == {
        f"whatsapp:{DEFAULT_SMS_NUMBER}": "ONLINE",
        **{p.sender_id: "PENDING_VERIFICATION" for p in pending},
    }
    assert all(s.sid.startswith("XE") for s in senders)
    account.numbers.append(IncomingNumber(pending[0].phone_number))
    status, body = await api.send(
        f"whatsapp:{RECIPIENT}", From=f"whatsapp:{pending[0].phone_number}"
    )
    assert (status, body["code"]) == (400, 63007)
    status, _ = await api.send(f"whatsapp:{RECIPIENT}", From=f"whatsapp:{DEFAULT_SMS_NUMBER}")
    assert status == 201


# -- message lists --------------------------------------------------------------------------


async def test_list_pages_like_twilio_until_every_message_is_seen(
    sdk: Client, twilio_sandbox: TwilioSandbox
) -> None:
    for i in range(7):
        await sdk.messages.create_async(to=RECIPIENT, from_=DEFAULT_SMS_NUMBER, body=f"m{i}")
    page = await sdk.messages.page_async(page_size=3)
    seen = []
    while page is not None:
        seen += [m.body for m in page]
        page = await page.next_page_async()
    assert seen == [f"m{i}" for i in reversed(range(7))]  # newest first, each once


async def test_list_filters_by_to_and_from(sdk: Client) -> None:
    await sdk.messages.create_async(to=RECIPIENT, from_=DEFAULT_SMS_NUMBER, body="a")
    await sdk.messages.create_async(to="+15551230002", from_=DEFAULT_SMS_NUMBER, body="b")
    await sdk.messages.create_async(to=RECIPIENT, from_="Relay Kit", body="c")
    to_recipient = await sdk.messages.list_async(to=RECIPIENT)
    assert sorted(m.body for m in to_recipient) == ["a", "c"]
    both = await sdk.messages.list_async(to=RECIPIENT, from_=DEFAULT_SMS_NUMBER)
    assert [m.body for m in both] == ["a"]


async def test_list_filters_by_date_sent(sdk: Client, twilio_sandbox: TwilioSandbox) -> None:
    await sdk.messages.create_async(to=RECIPIENT, from_=DEFAULT_SMS_NUMBER, body="a")
    await twilio_sandbox.settle()
    now = datetime.now(UTC)
    after = await sdk.messages.list_async(date_sent_after=now - timedelta(minutes=1))
    before = await sdk.messages.list_async(date_sent_before=now - timedelta(minutes=1))
    today = await sdk.messages.list_async(date_sent=now.date())
    assert [len(after), len(before), len(today)] == [1, 0, 1]


async def test_unsent_message_has_no_date_sent_so_date_filters_skip_it(
    api: Api, twilio_sandbox: TwilioSandbox
) -> None:
    twilio_sandbox.callback_delay = 60  # stays queued for the test's length
    await api.send()
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    _, by_date = await api.call("GET", "/Messages.json", params={"DateSent>": since})
    _, by_to = await api.call("GET", "/Messages.json", params={"To": RECIPIENT})
    assert (len(by_date["messages"]), len(by_to["messages"])) == (0, 1)


async def test_bad_date_filter_is_a_400(api: Api) -> None:
    status, body = await api.call("GET", "/Messages.json", params={"DateSent<": "yesterday"})
    assert (status, body["code"]) == (400, 20001)
