"""Declared events over HTTP: ``GET /v1/events``, ``POST /v1/notifications``, ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from tests.declared_events import DOORCODE_DATA, DOORCODE_SMS, doorcode_events
from tests.service.conftest import OTHER_KEY, MakeService, Service, student

#: An event relaykit does not ship, for the SMS and email steps of the tenants' default route.
GATE_OPENED = {
    "title": "Gate opened",
    "variables": {"gate": {"description": "Which gate.", "example": "North"}},
    "templates": {
        "sms": "The {{gate}} gate is open.",
        "email_subject": "{{gate}} gate open",
        "email_text": "The {{gate}} gate is open.",
        "email_html": "<p>The {{gate}} gate is open.</p>",
    },
}


async def events_of(service: Service, key: str | None = None) -> dict[str, Any]:
    headers = service.auth(key) if key else service.auth()
    listing = await service.client.get("/v1/events", headers=headers)
    assert listing.status_code == 200, listing.text
    return {e["name"]: e for e in listing.json()["events"]}


async def test_get_events_lists_a_declared_event_with_its_variables(
    make_service: MakeService,
) -> None:
    service = await make_service(events=doorcode_events())

    event = (await events_of(service))["doorcode_changed"]

    assert event["title"] == "Door code changed"
    assert [(v["name"], v["required"], v["example"]) for v in event["variables"]] == [
        ("site_name", True, "Harbour View"),
        ("door_code", True, "4821"),
        ("valid_from", False, "Monday 09:00"),
    ]
    assert event["channels"] == ["sms", "email"]


async def test_a_declared_event_is_sent_over_http(make_service: MakeService) -> None:
    service = await make_service(events=doorcode_events())
    body = {"event": "doorcode_changed", "recipient": student(), "data": DOORCODE_DATA}

    sent = await service.client.post("/v1/notifications", json=body, headers=service.auth())

    assert sent.status_code == 201, sent.text
    assert [m.body for m in service.sandbox.messages] == [DOORCODE_SMS]


async def test_a_tenants_own_event_is_listed_for_that_tenant_only(
    make_service: MakeService,
) -> None:
    service = await make_service(tenant_events={"gate_opened": GATE_OPENED})

    assert "gate_opened" in await events_of(service)
    assert "gate_opened" not in await events_of(service, OTHER_KEY)
    body = {"event": "gate_opened", "recipient": student(), "data": {"gate": "North"}}
    other = await service.client.post(
        "/v1/notifications", json=body, headers=service.auth(OTHER_KEY)
    )
    assert other.status_code == 422  # south-high has no such event


async def test_the_served_openapi_document_has_a_request_schema_for_a_declared_event(
    make_service: MakeService,
) -> None:
    service = await make_service(events=doorcode_events())

    document = (await service.client.get("/openapi.json")).json()

    data = document["components"]["schemas"]["DoorcodeChangedData"]
    assert data["required"] == ["site_name", "door_code"]
    assert set(data["properties"]) == {"site_name", "door_code", "valid_from"}
