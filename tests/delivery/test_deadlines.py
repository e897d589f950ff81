"""Delivery deadlines: only for channels that report delivery; seconds-granular; swept by serve."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from relaykit.delivery.worker import Worker
from relaykit.service import EmbeddedServer, create_app
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student

EVENT = "attendance_absence"
#: a sandbox number whose messages stay "sent": no delivery report ever comes
NEVER_DELIVERED = "+15005550033"


def email_first(**deadline: float) -> dict[str, object]:
    email, sms = {"channel": "email", "instance": "mail"}, {"channel": "sms", "instance": "sms"}
    return {"default": {"steps": [sms, email], "by_kind": {"guest": [email, sms]}, **deadline}}


async def test_an_email_step_never_misses_its_deadline_so_a_guest_gets_no_sms(
    make_stack: MakeStack,
) -> None:
    """The email-first guest route as relaykit.example.toml ships it (deadline_minutes = 10)."""
    stack = await make_stack({"routes": email_first(deadline_minutes=10)})
    guest = student(phone("+15005550040"), kind="guest", id="guest-1")
    record = await stack.relay.anotify(TENANT, EVENT, guest, SCHOOL_DATA)
    assert record.channel is not None and record.channel.value == "email"

    moved = await stack.relay.sweep_deadlines(datetime.now(UTC) + timedelta(hours=1))

    after = stack.relay.delivery(record.id)
    assert moved == 0
    assert after is not None and after.state == "sent" and after.fallbacks == []
    assert len(stack.emails_to("parent@example.org")) == 1
    assert stack.sandbox.sent_to("+15005550040") == []


async def test_deadline_seconds_moves_an_undelivered_sms_on_after_seconds(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack({"routes": email_first(deadline_seconds=30)})
    record = await stack.relay.anotify(TENANT, EVENT, student(phone(NEVER_DELIVERED)), SCHOOL_DATA)
    await stack.settle()
    sent_at = datetime.now(UTC)

    early = await stack.relay.sweep_deadlines(sent_at + timedelta(seconds=20))
    late = await stack.relay.sweep_deadlines(sent_at + timedelta(seconds=31))

    assert (early, late) == (0, 1)
    assert stack.relay.delivery(record.id).fallbacks == [("sms", "deadline")]  # type: ignore[union-attr]
    assert len(stack.emails_to("parent@example.org")) == 1


async def test_serve_sweeps_delivery_deadlines_without_a_worker(make_stack: MakeStack) -> None:
    stack = await make_stack({"routes": email_first(deadline_seconds=1)})
    server = EmbeddedServer()
    async with server.serving(create_app(stack.relay, sweep_interval_s=0.05)):
        record = await stack.relay.anotify(
            TENANT, EVENT, student(phone(NEVER_DELIVERED)), SCHOOL_DATA
        )
        for _ in range(200):  # up to 10 s; the deadline is 1 s
            if stack.emails_to("parent@example.org"):
                break
            await asyncio.sleep(0.05)

    assert stack.relay.delivery(record.id).fallbacks == [("sms", "deadline")]  # type: ignore[union-attr]
    assert len(stack.emails_to("parent@example.org")) == 1


async def test_a_running_worker_sweeps_deadline_seconds_within_seconds(
    make_stack: MakeStack,
) -> None:
    """A worker between its 30 s housekeeping rounds still moves a 1 s deadline on."""
    stack = await make_stack({"routes": email_first(deadline_seconds=1)}, inline=False)
    record = await stack.relay.anotify(TENANT, EVENT, student(phone(NEVER_DELIVERED)), SCHOOL_DATA)
    worker = Worker(stack.relay, poll_interval=0.05)  # housekeeping every 30 s, as shipped
    running = asyncio.create_task(worker.run())
    try:
        for _ in range(200):  # up to 10 s; the deadline is 1 s
            if stack.emails_to("parent@example.org"):
                break
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await running

    assert stack.relay.delivery(record.id).fallbacks == [("sms", "deadline")]  # type: ignore[union-attr]
    assert len(stack.emails_to("parent@example.org")) == 1
