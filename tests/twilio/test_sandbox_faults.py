"""Fault knobs, from Python and over ``/_sandbox/faults``, and the traps they reproduce."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from relaykit_twilio_sandbox import DEFAULT_SMS_NUMBER, TwilioSandbox
from tests.twilio.sandbox_fixtures import WebhookReceiver, basic_auth

TO = "+15551230001"


class Raw:
    """Messages-create and control calls over plain aiohttp."""

    def __init__(self, sandbox: TwilioSandbox, session: aiohttp.ClientSession) -> None:
        self.sb = sandbox
        self.session = session
        self.create_url = f"{sandbox.url}/2010-04-01/Accounts/{sandbox.account_sid}/Messages.json"
        self.auth = basic_auth(sandbox.account_sid, sandbox.auth_token)

    async def create(self, **fields: str) -> aiohttp.ClientResponse:
        data = {"To": TO, "From": DEFAULT_SMS_NUMBER, "Body": "hi", **fields}
        async with self.session.post(self.create_url, data=data, headers=self.auth) as response:
            await response.read()
            return response

    async def control(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        url = f"{self.sb.url}/_sandbox/{path}"
        async with self.session.request(method, url, **kwargs) as response:
            return response.status, await response.json()


@pytest.fixture
async def raw(twilio_sandbox: TwilioSandbox) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as session:
        yield Raw(twilio_sandbox, session)


async def test_fail_creates_answers_500_then_recovers(raw: Raw) -> None:
    raw.sb.faults.fail_creates = 2
    first, second, third = [await raw.create() for _ in range(3)]
    assert [first.status, second.status, third.status] == [500, 500, 201]
    assert len(raw.sb.messages) == 1 and raw.sb.create_attempts == 3


async def test_fail_creates_can_answer_503(raw: Raw) -> None:
    raw.sb.faults.update(fail_creates=1, fail_status=503)
    assert (await raw.create()).status == 503


async def test_rate_limit_answers_429_20429_with_retry_after(raw: Raw) -> None:
    raw.sb.faults.update(rate_limit_creates=1, retry_after=7)
    response = await raw.create()
    assert (response.status, response.headers["Retry-After"]) == (429, "7")
    assert raw.sb.messages == []
    assert (await raw.create()).status == 201  # only one was armed


async def test_rate_limit_body_is_twilios_error(raw: Raw) -> None:
    raw.sb.faults.rate_limit_creates = 1
    async with raw.session.post(
        raw.create_url, data={"To": TO, "From": DEFAULT_SMS_NUMBER, "Body": "x"}, headers=raw.auth
    ) as response:
        body = await response.json()
    assert body == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert raw.sb.messages == []


async def test_drop_creates_closes_the_connection_and_sends_nothing(raw: Raw) -> None:
    raw.sb.faults.drop_creates = 1
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await raw.create()
    assert raw.sb.messages == [] and raw.sb.create_attempts == 1
    assert (await raw.create()).status == 201


async def test_drop_after_create_is_a_maybe_sent_the_list_can_resolve(raw: Raw) -> None:
    """PITFALLS 24: the client sees a dead connection, yet Twilio has the message."""
    raw.sb.faults.drop_after_create = 1
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await raw.create(Body="reconcile me")
    assert [m.body for m in raw.sb.sent_to(TO)] == ["reconcile me"]
    async with raw.session.get(raw.create_url, params={"To": TO}, headers=raw.auth) as response:
        listed = (await response.json())["messages"]
    assert [m["body"] for m in listed] == ["reconcile me"]


async def test_latency_past_the_client_timeout_is_a_timeout_after_sending(raw: Raw) -> None:
    """PITFALLS 24 again: the request arrived and the message exists; the answer is late."""
    raw.sb.faults.latency_ms = 400
    with pytest.raises(asyncio.TimeoutError):
        async with raw.session.post(
            raw.create_url,
            data={"To": TO, "From": DEFAULT_SMS_NUMBER, "Body": "slow"},
            headers=raw.auth,
            timeout=aiohttp.ClientTimeout(total=0.1),
        ):
            pass
    assert [m.body for m in raw.sb.sent_to(TO)] == ["slow"]


async def test_latency_delays_every_rest_answer(raw: Raw) -> None:
    raw.sb.faults.latency_ms = 150
    started = time.monotonic()
    assert (await raw.create()).status == 201
    assert time.monotonic() - started >= 0.15
    raw.sb.faults.latency_ms = 0
    started = time.monotonic()
    await raw.create()
    assert time.monotonic() - started < 0.15


async def test_fail_after_create_with_sdk_retries_duplicates_the_message(
    twilio_sandbox: TwilioSandbox,
) -> None:
    """PITFALLS 29: the SDK's own retries re-POST on a 500 that followed a real create."""
    twilio_sandbox.faults.fail_after_create = 2
    http = AsyncTwilioHttpClient(max_retries=3)
    client = Client(twilio_sandbox.account_sid, twilio_sandbox.auth_token, http_client=http)
    client.api.base_url = twilio_sandbox.url
    try:
        await client.messages.create_async(to=TO, from_=DEFAULT_SMS_NUMBER, body="once")
    finally:
        await http.close()
    assert len(twilio_sandbox.sent_to(TO)) == 3  # one send, three messages at the provider


async def test_without_sdk_retries_a_500_is_one_attempt(twilio_sandbox: TwilioSandbox) -> None:
    twilio_sandbox.faults.fail_creates = 1
    http = AsyncTwilioHttpClient()
    client = Client(twilio_sandbox.account_sid, twilio_sandbox.auth_token, http_client=http)
    client.api.base_url = twilio_sandbox.url
    try:
        with pytest.raises(TwilioRestException) as excinfo:
            await client.messages.create_async(to=TO, from_=DEFAULT_SMS_NUMBER, body="x")
    finally:
        await http.close()
    assert (excinfo.value.status, excinfo.value.code) == (500, 20500)
    assert twilio_sandbox.create_attempts == 1 and twilio_sandbox.messages == []


async def test_lose_callbacks_changes_status_but_posts_nothing(
    raw: Raw, webhook_receiver: WebhookReceiver
) -> None:
    raw.sb.faults.lose_callbacks = 2
    await raw.create(StatusCallback=f"{webhook_receiver.url}/s")
    await raw.sb.settle()
    assert webhook_receiver.received == []
    assert raw.sb.messages[0].status == "delivered"
    assert [c.lost for c in raw.sb.callbacks] == [True, True]


async def test_faults_over_the_control_endpoint(raw: Raw) -> None:
    status, faults = await raw.control("POST", "faults", json={"fail_creates": 1})
    assert (status, faults["fail_creates"]) == (200, 1)
    assert (await raw.create()).status == 500
    _, faults = await raw.control("GET", "faults")
    assert faults["fail_creates"] == 0
    await raw.control("POST", "faults", data={"latency_ms": "20", "rate_limit_creates": "1"})
    assert raw.sb.faults.latency_ms == 20
    _, faults = await raw.control("DELETE", "faults")
    assert faults == raw.sb.faults.as_dict() and raw.sb.faults.rate_limit_creates == 0


async def test_unknown_fault_knob_is_a_400_naming_it(raw: Raw) -> None:
    status, body = await raw.control("POST", "faults", json={"explode": 1})
    assert status == 400 and "explode" in body["error"]


async def test_messages_and_attempts_over_the_control_endpoint(raw: Raw) -> None:
    raw.sb.faults.fail_creates = 1
    await raw.create()
    await raw.create(Body="kept")
    _, listed = await raw.control("GET", "messages")
    assert listed["create_attempts"] == 2
    assert [m["body"] for m in listed["messages"]] == ["kept"]
    _, cleared = await raw.control("DELETE", "messages")
    assert cleared["create_attempts"] == 0 and raw.sb.messages == []
