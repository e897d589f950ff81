"""A channel relaykit does not ship, end to end: an integrator's event routed pager → sms → email.

The pager is the example connector (``tests/example_connector``, discovered
through its entry point), SMS the Twilio connector on the Twilio sandbox,
email the email connector on an aiosmtpd sink; the relay keeps its state in a
real SQLite file and receives the pager's signed receipts over HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relaykit.delivery.planner import month_of
from relaykit.store import DeliveryRecord
from relaykit.testing import DistributionWriter
from tests.core.conftest import CANARY_SECRET, EXAMPLE_SRC
from tests.declared_events import DOORCODE_DATA, DOORCODE_SMS, doorcode_events
from tests.delivery.conftest import TENANT, MakeStack, Stack, phone, student

EVENT = "doorcode_changed"
PAGE = "Harbour View door code: 4821"
PHONE = "+15005550010"
PAGER_ID = "PG-012345"
ROUTE = {
    EVENT: {
        "steps": [
            {"channel": "pager", "instance": "pager"},
            {"channel": "sms", "instance": "sms"},
            {"channel": "email", "instance": "mail"},
        ]
    }
}


@pytest.fixture
def outbox(connector_distribution: DistributionWriter, tmp_path: Path) -> Path:
    """The example pager connector installed (its entry point), and its outbox directory."""
    connector_distribution(
        "outbox", dist="relaykit-outbox", module="relaykit_outbox.plugin", extra_path=EXAMPLE_SRC
    )
    directory = tmp_path / "pager-network"
    directory.mkdir()
    return directory


def pager_events() -> dict[str, Any]:
    """``doorcode_changed`` as the integrator declares it, with a body for the pager too."""
    events = doorcode_events()
    events[EVENT]["templates"]["pager"] = "{{site_name}} door code: {{door_code}}"
    return events


async def pager_stack(make_stack: MakeStack, outbox: Path, **tenant: dict[str, Any]) -> Stack:
    """The delivery stack with a ``pager`` instance of the example connector beside sms and mail
    (``make_stack`` adds these instances and routes to its own)."""
    pager = {
        "connector": "outbox",
        "settings": {"directory": str(outbox), "signing_secret": CANARY_SECRET},
    }
    changes = {"instances": {"pager": pager}, "routes": ROUTE, **tenant}
    return await make_stack(changes, settings={"events": pager_events()})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """As the pager network signs a receipt: HMAC-SHA256 over ``timestamp.body``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def paged(outbox: Path) -> list[dict[str, str]]:
    path = outbox / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def pager_contact(address: str = PAGER_ID, **fields: Any) -> dict[str, Any]:
    return {"kind": "pager_id", "address": address, **fields}


async def post_receipt(
    stack: Stack, message_id: str, status: str, *, timestamp: int | None = None
) -> int:
    """Post a pager receipt, signed as the pager network signs it, to the relay's webhook."""
    body = json.dumps({"id": message_id, "status": status}).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "content-type": "application/json",
        "x-outbox-timestamp": str(stamp),
        "x-outbox-signature": sign(CANARY_SECRET, stamp, body),
    }
    url = f"{stack.webhook_url}/webhooks/{TENANT}/pager/status"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status


def reasons(record: DeliveryRecord) -> list[tuple[str, str, str]]:
    return [
        (m.channel.value, m.fallback_reason or "", m.error_message or "")
        for m in record.messages
        if m.fallback_reason
    ]


async def test_a_recipient_with_a_pager_contact_is_paged(
    make_stack: MakeStack, outbox: Path
) -> None:
    stack = await pager_stack(make_stack, outbox)
    person = student(phone(PHONE), contacts=[pager_contact(" pg-012345 ", status="enabled")])

    record = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)

    assert record.state == "sent" and record.channel == "pager"
    assert [(p["channel"], p["to"], p["body"]) for p in paged(outbox)] == [
        ("pager", PAGER_ID, PAGE)
    ]
    assert stack.sandbox.messages == [] and stack.sink.received == []


async def test_the_best_pager_contact_is_chosen_and_disabled_ones_never(
    make_stack: MakeStack, outbox: Path
) -> None:
    stack = await pager_stack(make_stack, outbox)
    person = student(
        contacts=[
            pager_contact("PG-000001", status="disabled", verified_at="2026-06-01"),
            pager_contact("PG-000002", status="default", verified_at="2026-05-01"),
            pager_contact("PG-000003", status="enabled", verified_at="2025-01-01"),
            pager_contact("PG-000004", status="enabled", verified_at="2025-03-01"),
            pager_contact("not-a-pager", status="enabled", verified_at="2026-07-01"),
        ]
    )

    await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)

    assert [p["to"] for p in paged(outbox)] == ["PG-000004"]


async def test_an_expired_page_falls_back_to_sms_with_the_phone_rules_number(
    make_stack: MakeStack, outbox: Path
) -> None:
    stack = await pager_stack(make_stack, outbox)
    person = student(
        phone("+15005550011", status="default", type="home"),
        phone(PHONE, verified="2025-01-01"),
        contacts=[pager_contact(status="enabled")],
    )
    record = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)
    [page] = paged(outbox)

    assert await post_receipt(stack, page["id"], "expired") == 200
    await stack.settle()

    after = stack.relay.delivery(record.id)
    assert after is not None and after.channel == "sms"
    # Twilio gets the phone rule's number and never the pager id (issue 12's bug)
    assert [(m.to, m.body) for m in stack.sandbox.messages] == [(PHONE, DOORCODE_SMS)]
    assert [r[:2] for r in reasons(after)] == [("pager", "undelivered")]


async def test_forged_and_stale_receipts_are_refused_and_change_nothing(
    make_stack: MakeStack, outbox: Path
) -> None:
    stack = await pager_stack(make_stack, outbox)
    person = student(phone(PHONE), contacts=[pager_contact()])
    record = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)
    [page] = paged(outbox)

    stale = await post_receipt(stack, page["id"], "expired", timestamp=int(time.time()) - 3600)
    body = json.dumps({"id": page["id"], "status": "expired"}).encode()
    url = f"{stack.webhook_url}/webhooks/{TENANT}/pager/status"
    forged_headers = {"x-outbox-timestamp": str(int(time.time())), "x-outbox-signature": "0" * 64}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=forged_headers) as response,
    ):
        forged = response.status

    assert (stale, forged) == (403, 403)
    after = stack.relay.delivery(record.id)
    assert after is not None and after.channel == "pager" and stack.sandbox.messages == []


async def test_without_a_pager_contact_or_usable_phone_it_goes_by_email_saying_why(
    make_stack: MakeStack, outbox: Path
) -> None:
    stack = await pager_stack(make_stack, outbox)
    person = student(phone(PHONE, status="disabled"))

    record = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)

    assert record.channel == "email"
    assert reasons(record) == [
        ("pager", "no_address", "no pager_id contact"),
        ("sms", "no_number", f"{PHONE} is SMS-disabled"),
    ]
    [mail] = stack.emails_to("parent@example.org")
    assert mail["Subject"] == "New door code for Harbour View"
    assert paged(outbox) == [] and stack.sandbox.messages == []


async def test_an_invalid_pager_id_is_never_handed_to_any_connector(
    make_stack: MakeStack, outbox: Path
) -> None:
    stack = await pager_stack(make_stack, outbox)
    person = student(phone(PHONE), contacts=[pager_contact("+15005550010", status="enabled")])

    record = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)

    assert record.channel == "sms"
    [(channel, reason, detail)] = reasons(record)
    assert (channel, reason) == ("pager", "no_address")
    assert "'+15005550010' is not a valid pager_id" in detail
    assert paged(outbox) == [] and [m.to for m in stack.sandbox.messages] == [PHONE]


async def test_pages_do_not_count_against_the_sms_monthly_limit(
    make_stack: MakeStack, outbox: Path
) -> None:
    stack = await pager_stack(make_stack, outbox, sms={"monthly_limit": 1})
    paged_person = student(phone(PHONE), contacts=[pager_contact()])
    for _ in range(3):
        await stack.relay.anotify(TENANT, EVENT, paged_person, DOORCODE_DATA)

    texted = await stack.relay.anotify(TENANT, EVENT, student(phone(PHONE)), DOORCODE_DATA)
    over = await stack.relay.anotify(TENANT, EVENT, student(phone(PHONE)), DOORCODE_DATA)

    month = month_of(datetime.now(UTC), "Europe/London")
    assert stack.relay.store.usage.count(TENANT, month, "pager") == 3
    assert stack.relay.store.usage.count(TENANT, month, "sms") == 1
    assert (texted.channel, over.channel) == ("sms", "email")
    assert reasons(over)[-1][:2] == ("sms", "monthly_limit")


async def test_a_pager_monthly_limit_is_its_own(make_stack: MakeStack, outbox: Path) -> None:
    stack = await pager_stack(make_stack, outbox, channels={"pager": {"monthly_limit": 1}})
    person = student(phone(PHONE), contacts=[pager_contact()])

    first = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)
    second = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)

    assert (first.channel, second.channel) == ("pager", "sms")
    assert reasons(second) == [("pager", "monthly_limit", "1 of 1 pager messages used this month")]


async def test_the_sms_max_length_does_not_apply_to_the_pager(
    make_stack: MakeStack, outbox: Path
) -> None:
    stack = await pager_stack(make_stack, outbox, sms={"max_length": 20})

    paged_record = await stack.relay.anotify(
        TENANT, EVENT, student(phone(PHONE), contacts=[pager_contact()]), DOORCODE_DATA
    )
    texted = await stack.relay.anotify(TENANT, EVENT, student(phone(PHONE)), DOORCODE_DATA)

    assert paged_record.channel == "pager" and len(PAGE) > 20
    assert texted.channel == "email"
    assert reasons(texted)[-1][:2] == ("sms", "too_long")


async def test_a_pager_max_length_applies_to_the_pager(make_stack: MakeStack, outbox: Path) -> None:
    stack = await pager_stack(make_stack, outbox, channels={"pager": {"max_length": 10}})
    person = student(phone(PHONE), contacts=[pager_contact()])

    record = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)

    assert record.channel == "sms"
    assert reasons(record) == [
        ("pager", "too_long", f"{len(PAGE)} characters, more than the limit of 10")
    ]
