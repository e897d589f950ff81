"""``/v1/broadcasts`` against the live service: the Twilio sandbox, the SMTP sink, real sockets."""

from __future__ import annotations

import asyncio
import collections
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from relaykit_twilio_sandbox import ThreadedSandbox, TwilioSandbox, default_account
from tests.service.conftest import (
    EVENT,
    OTHER_KEY,
    SCHOOL_DATA,
    TENANT,
    MakeService,
    Service,
)
from tests.service.deployments import KEY, SmsDeployment, eventually

JSONL = {"Content-Type": "application/x-ndjson"}
QUERY = {"event": EVENT, "data": json.dumps(SCHOOL_DATA)}


def person(n: int, *, phone: bool = True) -> dict[str, Any]:
    phones = [{"number": f"+1500555{4000 + n}", "sms_status": "enabled"}] if phone else []
    return {"id": f"s{n}", "kind": "student", "email": f"p{n}@example.org", "phones": phones}


def jsonl(people: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(p) + "\n" for p in people).encode()


async def post(
    service: Service,
    body: Any,
    *,
    key: str | None = None,
    headers: dict[str, str] = JSONL,
    **q: str,
) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return await service.client.post(
        "/v1/broadcasts",
        params={**QUERY, **q},
        content=body,
        headers={**service.auth(), **headers, **extra},
    )


async def finished(service: Service, broadcast_id: str) -> dict[str, Any]:
    """The broadcast's status (GET) once it is no longer running."""
    for _ in range(1000):
        reply = await service.client.get(f"/v1/broadcasts/{broadcast_id}", headers=service.auth())
        assert reply.status_code == 200, reply.text
        if reply.json()["state"] != "running":
            return dict(reply.json())
        await asyncio.sleep(0.02)
    raise AssertionError(f"broadcast still running: {reply.text}")


def sms_per_number(service: Service) -> collections.Counter[str]:
    return collections.Counter(m.to for m in service.sandbox.messages)


def emails_per_address(service: Service) -> collections.Counter[str]:
    return collections.Counter(a for m in service.sink.received for a in m.rcpt_tos)


async def test_a_json_lines_broadcast_reaches_everyone_once_and_counts_them(
    service: Service,
) -> None:
    people = [person(n, phone=n % 5 != 0) for n in range(50)]  # 10 have no phone: email

    answer = await post(service, jsonl(people), key="alert-1")

    assert answer.status_code == 201, answer.text
    started = answer.json()
    assert answer.headers["location"] == started["status_url"] == f"/v1/broadcasts/{started['id']}"
    status = await finished(service, started["id"])
    assert sms_per_number(service) == {f"+1500555{4000 + n}": 1 for n in range(50) if n % 5}
    assert emails_per_address(service) == {f"p{n}@example.org": 1 for n in range(0, 50, 5)}
    assert status["state"] == "finished" and status["enqueue_done"] is True
    assert status["recipients_read"] == 50 and status["bad_rows"] == 0
    assert status["notifications"] == 50 and status["sent"] == 50 and status["failed"] == 0
    assert status["by_channel"] == {"sms": 40, "email": 10}
    assert status["fallback_reasons"] == {"no_number": 10} and status["fallen_back"] == 10
    assert status["started_at"] and status["finished_at"]


async def test_the_same_idempotency_key_again_is_the_same_broadcast_and_sends_nothing(
    service: Service,
) -> None:
    body = jsonl([person(n) for n in range(8)])
    first = await post(service, body, key="drill")
    await finished(service, first.json()["id"])

    again = await post(service, body, key="drill")

    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == f"/v1/broadcasts/{first.json()['id']}"
    assert set(sms_per_number(service).values()) == {1} and len(service.sandbox.messages) == 8
    other = await post(service, body, key="drill", event="key_is_ready")
    assert other.status_code == 422 and other.json()["fields"][0]["field"] == "Idempotency-Key"


async def test_the_same_key_while_it_runs_answers_the_running_broadcast(service: Service) -> None:
    service.sandbox.faults.update(latency_ms=50)
    body = jsonl([person(n) for n in range(100)])
    first = await post(service, body, key="busy")

    again = await post(service, body, key="busy")

    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["state"] == "running"
    await finished(service, first.json()["id"])
    assert sms_per_number(service) == {f"+1500555{4000 + n}": 1 for n in range(100)}


async def test_a_csv_body_maps_columns_to_recipient_fields_and_template_data(
    service: Service,
) -> None:
    csv = (
        "id,kind,email,phone,student_name\r\n"
        "c1,student,c1@example.org,+15005554101,Ada Lovelace\r\n"
        "c2,student,c2@example.org,,Grace Hopper\r\n"
    )
    answer = await post(service, csv.encode(), headers={"Content-Type": "text/csv"})

    assert answer.status_code == 201, answer.text
    status = await finished(service, answer.json()["id"])
    assert status["by_channel"] == {"sms": 1, "email": 1}
    assert "Ada Lovelace" in service.sandbox.messages[0].body
    assert "Grace Hopper" in service.emails_to("c2@example.org")[0].get_body().get_content()  # type: ignore[union-attr]


async def test_a_body_streamed_in_pieces_that_split_lines_and_characters(
    service: Service,
) -> None:
    people = [{**person(n), "name": "Zoë Ñúñez"} for n in range(12)]
    whole = jsonl(people)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(whole), 7):  # splits lines, and the 2-byte ë and ñ
            yield whole[start : start + 7]

    answer = await post(service, pieces())

    assert answer.status_code == 201, answer.text
    status = await finished(service, answer.json()["id"])
    assert status["recipients_read"] == 12 and status["bad_rows"] == 0
    assert sms_per_number(service) == {f"+1500555{4000 + n}": 1 for n in range(12)}


async def test_bad_rows_are_counted_with_their_line_numbers_and_the_rest_is_sent(
    service: Service,
) -> None:
    lines = [
        json.dumps(person(1)),
        "not json",
        "",
        json.dumps({"kind": "student", "email": "x@example.org"}),  # no id
        json.dumps(person(2)),
    ]
    answer = await post(service, "\n".join(lines).encode())

    status = await finished(service, answer.json()["id"])
    assert status["bad_rows"] == 2 and status["sent"] == 2
    assert [row["line"] for row in status["bad_row_lines"]] == [2, 4]
    assert "id" in status["bad_row_lines"][1]["reason"]


async def test_cancel_stops_the_broadcast_and_is_idempotent_and_a_finished_one_is_409(
    service: Service,
) -> None:
    service.sandbox.faults.update(latency_ms=100)  # slow enough to cancel mid-way
    answer = await post(service, jsonl([person(n) for n in range(400)]))
    broadcast = answer.json()["id"]
    cancel = f"/v1/broadcasts/{broadcast}/cancel"

    first = await service.client.post(cancel, headers=service.auth())
    again = await service.client.post(cancel, headers=service.auth())

    assert first.status_code == 200 and first.json()["state"] == "cancelled"
    assert again.status_code == 200 and again.json()["state"] == "cancelled"
    service.sandbox.faults.update(latency_ms=0)
    await service.eventually(lambda: not service.relay.broadcast_running(broadcast))
    status = (
        await service.client.get(f"/v1/broadcasts/{broadcast}", headers=service.auth())
    ).json()
    assert status["state"] == "cancelled"
    assert status["sent"] == len(service.sandbox.messages) < 400  # the rest withdrawn
    assert status["sent"] + status["failed"] + status["pending"] == status["notifications"]

    done = await post(service, jsonl([person(900)]))
    await finished(service, done.json()["id"])
    late = await service.client.post(
        f"/v1/broadcasts/{done.json()['id']}/cancel", headers=service.auth()
    )
    assert late.status_code == 409 and late.json()["error"] == "already_finished"


async def test_another_tenants_broadcast_is_not_found(service: Service) -> None:
    answer = await post(service, jsonl([person(1)]))
    broadcast = answer.json()["id"]
    other = {"Authorization": f"Bearer {OTHER_KEY}"}

    shown = await service.client.get(f"/v1/broadcasts/{broadcast}", headers=other)
    cancelled = await service.client.post(f"/v1/broadcasts/{broadcast}/cancel", headers=other)

    assert shown.status_code == cancelled.status_code == 404
    assert (await finished(service, broadcast))["state"] == "finished"  # not cancelled
    unauthenticated = await service.client.get(f"/v1/broadcasts/{broadcast}")
    assert unauthenticated.status_code == 401


async def test_unknown_event_bad_data_or_body_is_refused_naming_the_field_and_nothing_is_stored(
    service: Service,
) -> None:
    body = jsonl([person(1)])
    refused = {
        "event": await post(service, body, key="k1", event="no_such_event"),
        "data": await post(service, body, key="k2", data="[1, 2]"),
        "data.school_name": await post(
            service, body, key="k6", data=json.dumps({**SCHOOL_DATA, "school_name": [1]})
        ),
        "deadline": await post(service, body, key="k3", deadline="-5"),
        "Content-Type": await post(service, body, key="k4", headers={"Content-Type": "text/plain"}),
        "body": await post(service, b"name,email\r\nA,a@example.org\r\n", key="k5",
                           headers={"Content-Type": "text/csv"}),
        "Idempotency-Key": await post(service, body, key="k" * 151),
    }  # fmt: skip

    for field, answer in refused.items():
        assert answer.status_code in (415, 422), (field, answer.text)
        assert answer.json()["fields"][0]["field"] == field, answer.text
    assert "no_such_event" not in refused["event"].text
    for key in ("k1", "k2", "k3", "k4", "k5", "k6"):
        assert service.relay.store.broadcasts.by_key(TENANT, key) is None
    assert service.sandbox.messages == [] and service.sink.received == []


async def test_a_deadline_past_30_days_is_refused_not_a_server_error(service: Service) -> None:
    # schemathesis found it: 7.4e307 s overflowed the messages' deadline arithmetic (500)
    answer = await post(service, jsonl([person(1)]), key="far", deadline="7.4e307")

    assert answer.status_code == 422, answer.text
    assert answer.json()["fields"][0]["field"] == "deadline"
    assert "at most 2592000" in answer.text
    assert service.relay.store.broadcasts.by_key(TENANT, "far") is None


async def test_a_broadcast_body_has_its_own_size_limit(make_service: MakeService) -> None:
    service = await make_service(max_body_bytes=1000)  # one notification's limit
    people = [person(n) for n in range(40)]  # some 4 kB

    answer = await post(service, jsonl(people))

    assert answer.status_code == 201, answer.text
    assert (await finished(service, answer.json()["id"]))["sent"] == 40


# -- relaykit serve stopped or killed mid-broadcast ------------------------------------------

COUNT = 300


@pytest.fixture
def slow_sandbox() -> Iterator[TwilioSandbox]:
    with ThreadedSandbox(TwilioSandbox(accounts=[default_account()], callback_delay=60)) as s:
        s.faults.update(latency_ms=40)  # messages exist at Twilio before the answer arrives
        yield s


def post_to(deployment: SmsDeployment, body: bytes, key: str) -> tuple[int, dict[str, Any]]:
    query = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in QUERY.items())
    request = urllib.request.Request(
        f"{deployment.url}/v1/broadcasts?{query}",
        data=body,
        headers={"Authorization": f"Bearer {KEY}", "Idempotency-Key": key, **JSONL},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_serve_stopped_mid_broadcast_then_the_same_post_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, slow_sandbox: TwilioSandbox, how: signal.Signals
) -> None:
    deployment = SmsDeployment(
        tmp_path, slow_sandbox, queued=False, auth_token=slow_sandbox.auth_token
    )
    deployment.env["RELAYKIT_DELIVERY__STALE_AFTER_SECONDS"] = "1"
    deployment.env["RELAYKIT_DELIVERY__CONCURRENCY"] = "8"
    body = jsonl([person(n) for n in range(COUNT)])
    try:
        deployment.start("serve")
        deployment.wait_until_serving()
        code, first = post_to(deployment, body, "drill-1")
        assert code == 201, first
        eventually(lambda: len(slow_sandbox.messages) >= 100, "a third is sent")
        deployment.processes["serve"].send_signal(how)
        assert deployment.processes["serve"].wait(20) is not None
        assert len(slow_sandbox.messages) < COUNT

        deployment.start("serve")
        deployment.wait_until_serving()
        code, again = post_to(deployment, body, "drill-1")

        assert code == 200 and again["id"] == first["id"], again
        status = again
        deadline = time.monotonic() + 60
        while status["state"] == "running":
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
            status = deployment.call(f"/v1/broadcasts/{first['id']}")[1]
    finally:
        deployment.stop()
    sends = collections.Counter(m.to for m in slow_sandbox.messages)
    assert collections.Counter(sends.values()) == {1: COUNT}  # 0 lost, 0 duplicates
    assert status["state"] == "finished" and status["sent"] == COUNT
