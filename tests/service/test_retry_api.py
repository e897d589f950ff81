"""``POST /v1/messages/{id}/retry``: an operator re-drives a failed message (issue 10, item 11)."""

from __future__ import annotations

from tests.service.conftest import OTHER_KEY, Service, student


async def failed_sms(service: Service) -> tuple[str, str]:
    """A notification every channel failed: its SMS got 500s until retries ran out, no email."""
    service.sandbox.faults.update(fail_creates=2)  # the stack's policy: 2 attempts
    answer = await service.notify(student("+15005550081", email=None))
    record = answer.json()
    assert record["state"] == "failed", record
    return record["id"], record["messages"][0]["id"]


async def test_retry_api_redrives_a_failed_sms_once_the_provider_is_back(service: Service) -> None:
    delivery_id, message_id = await failed_sms(service)

    answer = await service.client.post(f"/v1/messages/{message_id}/retry", headers=service.auth())

    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["id"] == delivery_id and record["state"] in ("sent", "delivered")
    assert record["messages"][0]["attempts"] == 3
    assert len(service.sandbox.sent_to("+15005550081")) == 1


async def test_retry_api_refuses_a_message_that_went_out_and_another_tenants(
    service: Service,
) -> None:
    _, failed_id = await failed_sms(service)
    sent = (await service.notify(student("+15005550082", email=None))).json()

    again = await service.client.post(
        f"/v1/messages/{sent['messages'][0]['id']}/retry", headers=service.auth()
    )
    foreign = await service.client.post(
        f"/v1/messages/{failed_id}/retry", headers=service.auth(OTHER_KEY)
    )

    assert again.status_code == 409 and again.json()["error"] == "not_retryable"
    assert foreign.status_code == 404
    assert len(service.sandbox.sent_to("+15005550082")) == 1
