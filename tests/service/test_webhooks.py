"""Webhooks over real HTTP: routing, limits, verification, and what the engine makes of them."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
from urllib.parse import urlencode

import pytest

from relaykit.delivery.worker import Worker
from tests.service.conftest import (
    TENANT,
    DeferringSink,
    HoldingSink,
    MakeService,
    Service,
    student,
)


async def _sent_message(service: Service, number: str = "+15005550033") -> tuple[str, str]:
    """Notify someone whose message stays ``sent``; return (delivery id, MessageSid)."""
    response = await service.notify(student(number))
    assert response.status_code == 201, response.text
    record = response.json()
    await service.sandbox.settle()
    return record["id"], record["messages"][0]["provider_message_id"]


def _status_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "MessageStatus": status,
        "AccountSid": "AC5a4db0c05a4db0c05a4db0c05a4db0c0",
        "To": "+15005550033",
        "From": "+15005550006",
        **extra,
    }


async def _status_of(service: Service, delivery_id: str) -> str:
    response = await service.client.get(f"/v1/deliveries/{delivery_id}", headers=service.auth())
    return str(response.json()["messages"][0]["status"])


async def test_signed_status_callbacks_from_the_sandbox_mark_the_delivery_delivered(
    service: Service,
) -> None:
    created = await service.notify(student("+15005550080"))
    await service.sandbox.settle()

    response = await service.client.get(
        f"/v1/deliveries/{created.json()['id']}", headers=service.auth()
    )

    body = response.json()
    assert response.status_code == 200
    assert body["state"] == "delivered"
    [message] = body["messages"]
    timeline = [(t["status"], t["source"]) for t in message["timeline"] if t["applied"]]
    assert [s for s, _ in timeline][-2:] == ["sent", "delivered"]
    assert all(c.response_status == 200 for c in service.sandbox.callbacks)


async def test_an_undelivered_status_callback_moves_the_delivery_to_email(
    service: Service,
) -> None:
    created = await service.notify(student("+15005550030"))
    await service.sandbox.settle()
    await service.eventually(lambda: len(service.emails_to("parent@example.org")) == 1)

    body = (
        await service.client.get(f"/v1/deliveries/{created.json()['id']}", headers=service.auth())
    ).json()

    assert body["fallbacks"] == [{"channel": "sms", "reason": "undelivered"}]
    assert body["channel"] == "email"
    assert body["messages"][0]["error_code"] == "30003"


async def test_an_inbound_sms_is_answered_with_empty_twiml(service: Service) -> None:
    message = await service.sandbox.simulate_inbound("+15005550080", "+15005550006", "Hello")

    [delivery] = message.callbacks
    assert delivery.response_status == 200
    response = await service.post_signed(
        f"/webhooks/{TENANT}/sms/inbound",
        {"MessageSid": "SM" + "1" * 32, "From": "+15005550080", "To": "+15005550006", "Body": "Hi"},
    )
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/webhooks/nowhere-high/sms/status", "instance"),
        (f"/webhooks/{TENANT}/pager/status", "instance"),
        (f"/webhooks/{TENANT}/sms/bounce", "kind"),
        (f"/webhooks/{TENANT}/mail/status", "kind"),
    ],
    ids=["unknown-tenant", "unknown-instance", "twilio-has-no-bounce", "email-has-no-status"],
)
async def test_unknown_tenant_instance_or_kind_is_404(
    service: Service, path: str, unknown: str
) -> None:
    response = await service.post_signed(path, _status_params("SM" + "0" * 32, "delivered"))
    assert response.status_code == 404
    assert unknown in response.json()["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/{asked}/sms/status",
        f"/webhooks/{TENANT}/{{asked}}/status",
        f"/webhooks/{TENANT}/sms/{{asked}}",
    ],
    ids=["tenant", "instance", "kind"],
)
async def test_webhook_not_found_bodies_never_echo_the_path(service: Service, path: str) -> None:
    asked = "zq" * 2500 + "' OR '1'='1"

    response = await service.client.post(path.format(asked=asked), content=b"")

    assert response.status_code == 404
    assert "zqzq" not in response.text and "OR" not in response.text


async def test_a_body_over_the_limit_is_413_from_its_content_length(
    make_service: MakeService,
) -> None:
    service = await make_service(max_body_bytes=1024)
    delivery_id, sid = await _sent_message(service)

    response = await service.post_signed(
        f"/webhooks/{TENANT}/sms/status", _status_params(sid, "delivered", Pad="x" * 2000)
    )

    assert response.status_code == 413
    assert await _status_of(service, delivery_id) == "sent"


async def test_a_chunked_body_is_cut_off_at_the_limit_while_streaming(
    make_service: MakeService,
) -> None:
    service = await make_service(max_body_bytes=1024)

    async def chunks() -> object:
        for _ in range(64):
            yield b"Pad=" + b"x" * 508

    response = await service.client.post(
        f"/webhooks/{TENANT}/sms/status",
        content=chunks(),  # type: ignore[arg-type]
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 413
    assert "content-length" not in response.request.headers


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b"X-Twilio-Signature:\r\n",
        b"X-Twilio-Signature:    \r\n",
        b"X-Twilio-Signature: s\xefgnature=\r\n",
        "X-Twilio-Signature: ✓✓✓=\r\n".encode(),
    ],
    ids=["missing", "empty", "blank", "latin-1", "utf-8"],
)
async def test_pitfall_6_missing_empty_or_non_ascii_signature_is_403_and_changes_nothing(
    service: Service, header: bytes
) -> None:
    delivery_id, sid = await _sent_message(service)
    body = f"MessageSid={sid}&MessageStatus=delivered".encode()

    status = await service.raw_post(f"/webhooks/{TENANT}/sms/status", header, body)

    assert status == 403
    assert await _status_of(service, delivery_id) == "sent"


async def test_a_signature_made_with_another_token_is_403_and_changes_nothing(
    service: Service,
) -> None:
    delivery_id, sid = await _sent_message(service)
    params = _status_params(sid, "delivered")
    path = f"/webhooks/{TENANT}/sms/status"
    headers = service.sign(service.url + path, params)
    headers["X-Twilio-Signature"] = "AAAA" + headers["X-Twilio-Signature"][4:]

    response = await service.client.post(path, content=urlencode(params), headers=headers)

    assert response.status_code == 403
    assert "token" not in response.text.lower()
    assert await _status_of(service, delivery_id) == "sent"


async def test_the_same_callback_posted_concurrently_is_applied_once(service: Service) -> None:
    """Concurrent callbacks share one transaction: copies in the same batch still count once."""
    delivery_id, sid = await _sent_message(service)
    params = _status_params(sid, "delivered")
    path = f"/webhooks/{TENANT}/sms/status"
    headers = service.sign(service.url + path, params)

    responses = await asyncio.gather(
        *(service.client.post(path, content=urlencode(params), headers=headers) for _ in range(5))
    )

    assert [r.status_code for r in responses] == [200] * 5
    record = await service.client.get(f"/v1/deliveries/{delivery_id}", headers=service.auth())
    [message] = record.json()["messages"]
    assert message["status"] == "delivered" and record.json()["state"] == "delivered"
    delivered = [t for t in message["timeline"] if t["status"] == "delivered"]
    assert len(delivered) == 1


async def test_a_verified_but_malformed_callback_is_400(service: Service) -> None:
    response = await service.post_signed(
        f"/webhooks/{TENANT}/sms/status", {"MessageStatus": "delivered"}
    )
    assert response.status_code == 400
    assert "MessageSid" in response.json()["message"]


async def test_an_email_bounce_without_a_configured_secret_is_refused(service: Service) -> None:
    response = await service.client.post(
        f"/webhooks/{TENANT}/mail/bounce",
        content=b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\n",
        headers={"Content-Type": "message/rfc822", "X-Relaykit-Signature": "sha256=00"},
    )
    assert response.status_code == 403


async def test_status_callback_opt_out_for_an_unknown_message_stores_no_opt_out(
    service: Service,
) -> None:
    """A signed 21610 for a MessageSid relaykit never sent opts nobody out."""
    person = {
        **student("+15005550033"),
        "phones": [
            {"number": "+15005550033", "sms_status": "enabled"},
            {"number": "+15005550034", "sms_status": "enabled"},
        ],
    }
    first = await service.notify(person)
    assert first.status_code == 201, first.text
    unknown = "SM" + "7" * 32

    response = await service.post_signed(
        f"/webhooks/{TENANT}/sms/status",
        _status_params(unknown, "undelivered", ErrorCode="21610"),
    )

    assert response.status_code == 200
    assert service.relay.store.optouts.entries(TENANT) == []
    again = await service.notify(person)
    assert again.json()["channel"] == "sms"  # the person can still be texted


async def test_status_callback_opt_out_for_a_sent_message_opts_its_recipient_out(
    service: Service,
) -> None:
    delivery_id, sid = await _sent_message(service, "+15005550033")

    response = await service.post_signed(
        f"/webhooks/{TENANT}/sms/status", _status_params(sid, "undelivered", ErrorCode="21610")
    )
    await service.eventually(lambda: len(service.emails_to("parent@example.org")) == 1)

    assert response.status_code == 200
    entries = service.relay.store.optouts.entries(TENANT)
    assert [(e.address, e.opted_out, e.recipient_id) for e in entries] == [
        ("+15005550033", True, "stu-1")
    ]
    record = (
        await service.client.get(f"/v1/deliveries/{delivery_id}", headers=service.auth())
    ).json()
    assert record["fallbacks"] == [{"channel": "sms", "reason": "opted_out"}]


@pytest.mark.timeout(60)
async def test_graceful_stop_while_a_slow_relay_holds_fallback_emails_sends_each_once(
    make_service: MakeService,
) -> None:
    """A stop while the relay holds DATA longer than the drain: recovery sends nothing twice."""
    sink = HoldingSink(delay=3.0)
    service = await make_service(
        sink=sink, callback_budget_s=0.2, drain_timeout_s=0.5, delivery={"stale_after_seconds": 1}
    )
    parents = [f"parent{n}@example.org" for n in range(10)]
    created = [(await service.notify(student("+15005550033", email=p))).json() for p in parents]
    await service.sandbox.settle()
    answers = await asyncio.gather(
        *(
            service.post_signed(
                f"/webhooks/{TENANT}/sms/status",
                _status_params(
                    c["messages"][0]["provider_message_id"], "undelivered", ErrorCode="30003"
                ),
            )
            for c in created
        )
    )
    assert [a.status_code for a in answers] == [200] * 10
    await service.eventually(lambda: len(sink.received) == 10, what="the relay has all 10")

    await service.server.stop()  # graceful: the relay still holds every 250
    await asyncio.wait_for(Worker(service.relay, poll_interval=0.05).run(until_idle=True), 30)

    per_parent = collections.Counter(r for m in sink.received for r in m.rcpt_tos)
    assert collections.Counter(per_parent.values()) == {1: 10}, per_parent
    records = [service.relay.delivery(c["id"]) for c in created]
    assert {(r.state, r.channel.value) for r in records if r and r.channel} == {("sent", "email")}


@pytest.mark.timeout(60)
async def test_graceful_stop_starts_no_new_send_and_leaves_the_retry_to_the_worker(
    make_service: MakeService,
) -> None:
    """The fallback email in flight at the stop is finished; its retry is the worker's."""
    service = await make_service(
        sink=DeferringSink(delay=2.0), callback_budget_s=0.2, drain_timeout_s=0.5
    )
    delivery_id, sid = await _sent_message(service, "+15005550033")
    answer = await service.post_signed(
        f"/webhooks/{TENANT}/sms/status", _status_params(sid, "undelivered", ErrorCode="30003")
    )
    assert answer.status_code == 200

    started = asyncio.get_running_loop().time()
    await service.server.stop()  # while the relay holds the first DATA
    stopped_in = asyncio.get_running_loop().time() - started

    email = service.relay.delivery(delivery_id).messages[1]  # type: ignore[union-attr]
    assert (email.status, email.attempt_count, email.error_code) == ("retrying", 1, "451")
    assert 1.0 < stopped_in < 3.5  # the call in flight was finished, no second one begun
    await asyncio.wait_for(Worker(service.relay, poll_interval=0.05).run(until_idle=True), 30)
    after = service.relay.delivery(delivery_id)
    assert after is not None and after.state == "sent"
    assert after.messages[1].attempt_count == 2
    assert len(service.emails_to("parent@example.org")) == 1


def _json_signed(service: Service, path: str, body: bytes) -> tuple[str, dict[str, str]]:
    """The path with ``bodySHA256`` for ``body``, and the headers Twilio signs such a URL with."""
    signed_path = f"{path}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = service.sign(service.relay.host.settings.public_base() + signed_path, {})
    return signed_path, dict(headers, **{"Content-Type": "application/json"})


async def test_json_webhook_signed_over_body_sha256_marks_the_delivery_delivered(
    service: Service,
) -> None:
    delivery_id, sid = await _sent_message(service)
    body = json.dumps(_status_params(sid, "delivered")).encode()
    path, headers = _json_signed(service, f"/webhooks/{TENANT}/sms/status", body)

    response = await service.client.post(path, content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert await _status_of(service, delivery_id) == "delivered"


@pytest.mark.parametrize("forged", ["empty", "other-status"])
async def test_json_webhook_with_a_body_not_matching_body_sha256_is_403_and_changes_nothing(
    service: Service, forged: str
) -> None:
    delivery_id, sid = await _sent_message(service)
    genuine = json.dumps(_status_params(sid, "delivered")).encode()
    path, headers = _json_signed(service, f"/webhooks/{TENANT}/sms/status", genuine)
    body = b"" if forged == "empty" else genuine.replace(b'"delivered"', b'"undelivered"')

    response = await service.client.post(path, content=body, headers=headers)

    assert response.status_code == 403, response.text
    assert await _status_of(service, delivery_id) == "sent"
    assert service.emails_to("parent@example.org") == []
