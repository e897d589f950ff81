"""Webhooks over real HTTP: routing, limits, verification, and what the engine makes of them."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.service.conftest import TENANT, MakeService, Service, student


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
