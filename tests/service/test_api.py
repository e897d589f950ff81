"""The JSON API over real HTTP: authentication, tenant isolation, each endpoint and status code."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.service.conftest import (
    EVENT,
    KEY,
    OTHER_KEY,
    OTHER_TENANT,
    SCHOOL_DATA,
    TENANT,
    MakeService,
    Service,
    student,
)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", f"Bearer {KEY}x", f"Basic {KEY}", KEY, "Bearer " + "k" * 600],
    ids=["missing", "empty", "wrong-key", "basic-scheme", "no-scheme", "huge"],
)
async def test_requests_without_a_valid_key_are_401(
    service: Service, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = await service.client.get("/v1/messages", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert KEY not in response.text


async def test_health_needs_no_key(service: Service) -> None:
    response = await service.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_notify_sends_and_answers_201_with_the_delivery_record(service: Service) -> None:
    response = await service.notify(student("+15005550080"))

    body = response.json()
    assert response.status_code == 201
    assert response.headers["location"] == f"/v1/deliveries/{body['id']}"
    assert (body["tenant"], body["event"], body["channel"]) == (TENANT, EVENT, "sms")
    assert body["duplicate"] is False
    assert [m.to for m in service.sandbox.messages] == ["+15005550080"]


async def test_the_same_idempotency_key_answers_200_with_the_first_delivery(
    service: Service,
) -> None:
    body = {"event": EVENT, "recipient": student(), "data": SCHOOL_DATA}
    headers = {**service.auth(), "Idempotency-Key": "absence-991"}

    first = await service.client.post("/v1/notifications", json=body, headers=headers)
    again = await service.client.post("/v1/notifications", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert (first.json()["idempotency_key"], again.json()["duplicate"]) == ("absence-991", True)
    assert len(service.sandbox.messages) == 1


async def test_reusing_an_idempotency_key_with_a_different_body_is_422_naming_the_key(
    service: Service,
) -> None:
    body = {"event": EVENT, "recipient": student(), "data": SCHOOL_DATA}
    other = {**body, "data": {**SCHOOL_DATA, "absence_date": "Tuesday 13 May 2025"}}
    headers = {**service.auth(), "Idempotency-Key": "absence-991"}

    first = await service.client.post("/v1/notifications", json=body, headers=headers)
    reused = await service.client.post("/v1/notifications", json=other, headers=headers)
    replay = await service.client.post("/v1/notifications", json=body, headers=headers)

    assert (first.status_code, reused.status_code, replay.status_code) == (201, 422, 200)
    assert reused.json()["error"] == "idempotency_key_reused"
    assert [f["field"] for f in reused.json()["fields"]] == ["Idempotency-Key"]
    assert first.json()["id"] in reused.json()["message"]
    assert [m.body for m in service.sandbox.messages if "Tuesday" in m.body] == []
    assert len(service.sandbox.messages) == 1


async def test_an_idempotent_replay_is_the_same_request_in_any_key_order(
    service: Service,
) -> None:
    headers = {
        **service.auth(),
        "Idempotency-Key": "absence-992",
        "Content-Type": "application/json",
    }
    body = {"event": EVENT, "recipient": student(), "data": SCHOOL_DATA}
    reordered = {"data": dict(reversed(SCHOOL_DATA.items())), **body}

    first = await service.client.post("/v1/notifications", json=body, headers=headers)
    again = await service.client.post(
        "/v1/notifications", content=json.dumps(reordered, indent=4), headers=headers
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True


async def test_concurrent_reuse_of_an_idempotency_key_with_different_bodies_sends_once(
    database_url: str, make_service: MakeService
) -> None:
    service = await make_service(database_url=database_url)
    headers = {**service.auth(), "Idempotency-Key": "absence-993"}
    bodies = [
        {"event": EVENT, "recipient": student(), "data": {**SCHOOL_DATA, "absence_date": day}}
        for day in ("Monday", "Tuesday", "Wednesday", "Thursday")
    ]

    answers = await asyncio.gather(
        *(service.client.post("/v1/notifications", json=b, headers=headers) for b in bodies)
    )

    assert sorted(a.status_code for a in answers) == [201, 422, 422, 422]
    assert len(service.sandbox.messages) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": EVENT, "recipient": {"kind": "student"}}, "recipient.id"),
        ({"event": EVENT, "recipient": {"id": "s", "phones": [{"type": "x"}]}}, "number"),
        ({"recipient": {"id": "s"}}, "event"),
        ({"event": EVENT, "recipient": {"id": "s"}, "colour": "red"}, "colour"),
        ({"event": EVENT, "recipient": {"id": "s"}, "data": []}, "data"),
    ],
    ids=["recipient-id", "phone-number", "event", "unknown-field", "data-type"],
)
async def test_invalid_input_is_422_naming_the_field(
    service: Service, body: dict[str, object], field: str
) -> None:
    response = await service.client.post("/v1/notifications", json=body, headers=service.auth())

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert field in response.json()["message"]
    assert any(field in f["field"] for f in response.json()["fields"])


async def test_an_unknown_event_or_missing_template_data_is_422(service: Service) -> None:
    unknown = await service.client.post(
        "/v1/notifications",
        json={"event": "birthday", "recipient": student()},
        headers=service.auth(),
    )
    missing = await service.client.post(
        "/v1/notifications",
        json={"event": EVENT, "recipient": student(), "data": {"school_name": "North"}},
        headers=service.auth(),
    )

    assert (unknown.status_code, missing.status_code) == (422, 422)
    assert "/v1/events" in unknown.json()["message"] and "birthday" not in unknown.text
    assert unknown.json()["fields"] == [{"field": "event", "message": "unknown event"}]
    assert "student_name" in missing.json()["message"]
    assert service.sandbox.messages == []


async def test_a_body_that_is_not_json_is_400(service: Service) -> None:
    response = await service.client.post(
        "/v1/notifications", content=b"{not json", headers=service.auth()
    )
    assert response.status_code == 400


async def test_a_json_body_over_the_limit_is_413(make_service: MakeService) -> None:
    service = await make_service(max_body_bytes=2048)
    body = {"event": EVENT, "recipient": student(), "data": {**SCHOOL_DATA, "pad": "x" * 4096}}

    response = await service.client.post("/v1/notifications", json=body, headers=service.auth())

    assert response.status_code == 413
    assert service.sandbox.messages == []


async def test_staff_whose_role_may_not_send_is_403(service: Service) -> None:
    response = await service.notify(student(), staff={"id": "mr-bean", "role": "caretaker"})

    assert response.status_code == 403
    assert "caretaker" in response.json()["message"]
    assert service.sandbox.messages == []


async def test_a_key_cannot_notify_read_or_list_another_tenant(service: Service) -> None:
    theirs = await service.client.post(
        "/v1/notifications",
        json={"event": EVENT, "recipient": student(), "data": SCHOOL_DATA},
        headers=service.auth(OTHER_KEY),
    )
    as_them = await service.notify(student(), tenant=OTHER_TENANT)
    read = await service.client.get(f"/v1/deliveries/{theirs.json()['id']}", headers=service.auth())
    listed = await service.client.get(
        "/v1/messages", params={"tenant": OTHER_TENANT}, headers=service.auth()
    )
    mine = await service.client.get("/v1/messages", headers=service.auth())

    assert theirs.status_code == 201 and theirs.json()["tenant"] == OTHER_TENANT
    assert (as_them.status_code, read.status_code, listed.status_code) == (403, 404, 403)
    assert mine.json() == {"messages": []}


async def test_an_unknown_delivery_is_404(service: Service) -> None:
    response = await service.client.get("/v1/deliveries/nope", headers=service.auth())
    assert response.status_code == 404


@pytest.mark.parametrize(
    "asked",
    ["zq" * 2500, "x' OR '1'='1' --", "<img src=x onerror=alert(1)>"],
    ids=["5000-characters", "sql", "html"],
)
async def test_not_found_bodies_never_echo_the_requested_id(service: Service, asked: str) -> None:
    response = await service.client.get(f"/v1/deliveries/{asked}", headers=service.auth())

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert asked not in response.text and "zqzq" not in response.text
    assert "OR" not in response.text and "onerror" not in response.text


async def test_messages_are_filtered_by_channel_status_and_since(service: Service) -> None:
    await service.notify(student("+15005550080"))
    await service.notify(student(None))  # no number: email
    await service.sandbox.settle()

    def listed(**params: str) -> object:
        return service.client.get("/v1/messages", params=params, headers=service.auth())

    emails = (await listed(channel="email")).json()["messages"]  # type: ignore[attr-defined]
    delivered = (await listed(status="delivered")).json()["messages"]  # type: ignore[attr-defined]
    future = (await listed(since="2999-01-01T00:00:00Z")).json()["messages"]  # type: ignore[attr-defined]
    everything = (await listed()).json()["messages"]  # type: ignore[attr-defined]

    assert [m["channel"] for m in emails] == ["email"]
    assert [(m["channel"], m["to"]) for m in delivered] == [("sms", "+15005550080")]
    assert future == []
    assert {m["status"] for m in everything} == {"skipped", "sent", "delivered"}
    assert all(m["notification_id"] for m in everything)


def rfc3339(instant: datetime, offset_hours: int) -> str:
    """``instant`` written at UTC offset ``offset_hours`` (``Z`` for 0), to the second."""
    local = instant.astimezone(timezone(timedelta(hours=offset_hours)))
    return local.isoformat(timespec="seconds").replace("+00:00", "Z")


async def test_since_filter_compares_instants_across_utc_offsets(
    database_url: str, make_service: MakeService
) -> None:
    # database_url comes first, so the database is dropped after the service stops
    service = await make_service(database_url=database_url)
    before = datetime.now(UTC) - timedelta(minutes=1)
    await service.notify(student("+15005550080"))
    await service.notify(student(None))  # a skipped SMS and an email: 3 messages in all
    later = before + timedelta(hours=1)

    async def count(since: str) -> int:
        response = await service.client.get(
            "/v1/messages", params={"since": since}, headers=service.auth()
        )
        return len(response.json()["messages"])

    assert [await count(rfc3339(before, hours)) for hours in (0, 14, -11)] == [3, 3, 3]
    assert [await count(rfc3339(later, hours)) for hours in (0, 14, -11)] == [0, 0, 0]


async def test_each_events_variables_are_published_before_calling(service: Service) -> None:
    listing = await service.client.get("/v1/events", headers=service.auth())
    events = {e["name"]: e for e in listing.json()["events"]}

    absence = events[EVENT]
    required = {v["name"] for v in absence["variables"] if v["required"]}
    optional = {v["name"] for v in absence["variables"] if not v["required"]}
    assert (listing.status_code, required) == (200, set(SCHOOL_DATA))
    assert optional and absence["channels"] == ["sms", "email"]
    for name, event in events.items():  # the listing alone is enough to notify
        data = {v["name"]: v["example"] for v in event["variables"] if v["required"]}
        sent = await service.client.post(
            "/v1/notifications",
            json={"event": name, "recipient": student(), "data": data},
            headers=service.auth(),
        )
        assert sent.status_code == 201, (name, sent.json())


@pytest.mark.parametrize(
    "data",
    [{"school_name": "North High", "absence_date": "Monday"}, {**SCHOOL_DATA, "student_name": {}}],
    ids=["missing-variable", "object-value"],
)
async def test_data_outside_the_published_variables_is_422_even_with_nothing_to_render(
    service: Service, data: dict[str, object]
) -> None:
    unreachable = student(number=None, email=None)  # every step is skipped, nothing renders

    response = await service.client.post(
        "/v1/notifications",
        json={"event": EVENT, "recipient": unreachable, "data": data},
        headers=service.auth(),
    )

    assert response.status_code == 422
    assert "student_name" in response.json()["message"]


async def test_the_event_listing_needs_a_key(service: Service) -> None:
    response = await service.client.get("/v1/events")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "params", [{"since": "yesterday"}, {"limit": "0"}, {"limit": "many"}], ids=str
)
async def test_bad_message_filters_are_422(service: Service, params: dict[str, str]) -> None:
    response = await service.client.get("/v1/messages", params=params, headers=service.auth())
    assert response.status_code == 422
    assert next(iter(params)) in response.json()["message"]


async def test_connectors_shows_each_instance_connected_and_reuses_the_check(
    service: Service,
) -> None:
    first = await service.client.get("/v1/connectors", headers=service.auth())
    again = await service.client.get("/v1/connectors", headers=service.auth())

    rows = first.json()["connectors"]
    assert [(r["instance"], r["connector"], r["connected"]) for r in rows] == [
        ("mail", "email", True),
        ("sms", "twilio", True),
    ]
    assert again.json() == first.json()  # same checked_at: answered from the cache


async def test_connectors_reports_rejected_credentials_without_the_token(
    make_service: MakeService,
) -> None:
    wrong = "0123456789abcdef0123456789abcdef"
    service = await make_service(sms_settings={"auth_token": wrong}, connection_ttl_s=0)

    response = await service.client.get("/v1/connectors", headers=service.auth())

    sms = next(r for r in response.json()["connectors"] if r["instance"] == "sms")
    assert (sms["connected"], sms["state"]) == (False, "invalid_credentials")
    assert wrong not in response.text


async def test_template_preview_renders_with_segments_and_warnings(service: Service) -> None:
    response = await service.client.post(
        "/v1/templates/preview",
        json={"event": EVENT, "part": "sms", "data": {"student_name": "Tom & Jerry"}},
        headers=service.auth(),
    )

    body = response.json()
    assert response.status_code == 200
    assert "Tom & Jerry" in body["text"]
    assert (body["segments"], body["encoding"], body["origin"]) == (1, "GSM-7", "default")
    assert {w["variable"] for w in body["warnings"]} >= {"school_name", "absence_date"}


@pytest.mark.parametrize(
    ("body", "word"),
    [({"event": "birthday", "part": "sms"}, "event"), ({"event": EVENT, "part": "fax"}, "part")],
    ids=["unknown-event", "unknown-part"],
)
async def test_template_preview_of_an_unknown_event_or_part_is_422(
    service: Service, body: dict[str, str], word: str
) -> None:
    response = await service.client.post("/v1/templates/preview", json=body, headers=service.auth())
    assert response.status_code == 422
    assert word in response.json()["message"] and "birthday" not in response.text
