"""PITFALLS 7, 8, 11 and 12 over real HTTP against the live service."""

from __future__ import annotations

import time
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from packaging.version import Version

from tests.service.conftest import TENANT, MakeService, Service, SlowSink, student

PUBLIC = "https://relay.example.org"
INBOUND_PATH = f"/webhooks/{TENANT}/sms/inbound"


def _inbound(sid_digit: str, body: str = "Running late") -> dict[str, str]:
    return {
        "MessageSid": "SM" + sid_digit * 32,
        "From": "+15005550080",
        "To": "+15005550006",
        "Body": body,
    }


async def test_pitfall_7_the_url_is_the_public_one_not_the_host_header(
    make_service: MakeService,
) -> None:
    service = await make_service(public_base_url=PUBLIC)
    params = _inbound("1")
    proxied = {"Host": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.test"}

    # Signed over the public https URL, arriving over plain http on loopback: accepted.
    headers = {**service.sign(PUBLIC + INBOUND_PATH, params), **proxied}
    accepted = await service.client.post(INBOUND_PATH, content=urlencode(params), headers=headers)
    # Signed over what the request itself says (scheme, Host): refused.
    local = service.sign(service.url + INBOUND_PATH, _inbound("2"))
    refused = await service.client.post(
        INBOUND_PATH, content=urlencode(_inbound("2")), headers=local
    )

    assert (accepted.status_code, refused.status_code) == (200, 403)
    assert [m["provider_message_id"] for m in service.relay.store.inbound.messages(TENANT)] == [
        "SM" + "1" * 32
    ]


async def test_pitfall_7_host_case_and_query_order_are_not_normalised(
    make_service: MakeService,
) -> None:
    service = await make_service(public_base_url=PUBLIC)
    path = INBOUND_PATH + "?b=2&a=1"

    as_signed = await service.post_signed(path, _inbound("3"), signed_url=PUBLIC + path)
    reordered = await service.post_signed(
        INBOUND_PATH + "?a=1&b=2", _inbound("4"), signed_url=PUBLIC + path
    )
    upper_host = await service.post_signed(
        path, _inbound("5"), signed_url="https://RELAY.example.org" + path
    )

    assert [as_signed.status_code, reordered.status_code, upper_host.status_code] == [
        200,
        403,
        403,
    ]


async def test_pitfall_8_a_replayed_stop_does_not_flip_consent_twice(service: Service) -> None:
    await service.notify(student("+15005550090"))
    await service.sandbox.settle()
    stop = await service.sandbox.simulate_inbound("+15005550090", "+15005550006", "STOP")
    opted_out = bool(service.relay.store.optouts.opted_out(TENANT, "sms", ["+15005550090"]))
    await service.sandbox.simulate_inbound("+15005550090", "+15005550006", "START")

    # The captured STOP, byte for byte, with a fresh idempotency token (it is not signed).
    captured = stop.callbacks[0]
    headers = {**captured.headers, "I-Twilio-Idempotency-Token": "replayed-token"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(captured.url, data=urlencode(captured.params), headers=headers) as replay,
    ):
        replay_status = replay.status

    assert opted_out
    assert replay_status == 200
    assert not service.relay.store.optouts.opted_out(TENANT, "sms", ["+15005550090"])


async def test_pitfall_8_a_replayed_undelivered_status_falls_back_only_once(
    service: Service,
) -> None:
    created = await service.notify(student("+15005550030"))
    await service.sandbox.settle()
    await service.eventually(lambda: len(service.emails_to("parent@example.org")) == 1)
    [undelivered] = [
        c for c in service.sandbox.callbacks if c.params.get("MessageStatus") == "undelivered"
    ]

    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.post(
                undelivered.url, data=urlencode(undelivered.params), headers=undelivered.headers
            ) as replay:
                assert replay.status == 200

    record = service.relay.delivery(created.json()["id"])
    assert record is not None
    assert [m.channel.value for m in record.messages] == ["sms", "email"]
    assert len(service.emails_to("parent@example.org")) == 1


def test_pitfall_11_starlette_and_python_multipart_are_current() -> None:
    lock = (Path(__file__).parents[2] / "uv.lock").read_text("utf-8")

    assert Version(version("starlette")) >= Version("1.3.1")
    assert 'name = "starlette"' in lock
    if 'name = "python-multipart"' in lock:
        assert Version(version("python-multipart")) >= Version("0.0.27")


async def test_pitfall_12_a_callback_is_answered_while_its_slow_email_fallback_goes_on(
    make_service: MakeService,
) -> None:
    service = await make_service(sink=SlowSink(delay=2.0), callback_budget_s=0.3)
    created = await service.notify(student("+15005550033"))  # stays "sent"
    await service.sandbox.settle()
    sid = created.json()["messages"][0]["provider_message_id"]
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    path = f"/webhooks/{TENANT}/sms/status?rk_ref={created.json()['messages'][0]['id']}"

    started = time.monotonic()
    first = await service.post_signed(path, params)
    answered_in = time.monotonic() - started
    retried = await service.post_signed(path, params)  # Twilio's retry, while the email is slow
    await service.eventually(
        lambda: len(service.emails_to("parent@example.org")) == 1, timeout=10, what="the email"
    )

    assert (first.status_code, retried.status_code) == (200, 200)
    assert answered_in < 1.0
    record = service.relay.delivery(created.json()["id"])
    assert record is not None and [m.channel.value for m in record.messages] == ["sms", "email"]
