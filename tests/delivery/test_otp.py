"""OTP routes end to end: SMS only, Twilio's validity period, a deadline, and priority.

Real parts: the Twilio sandbox through the official SDK, the aiosmtpd sink, a
SQLite file, ``relaykit worker``'s loop. An OTP's route has one step (no
email fallback), ``validity_period`` on it and ``priority = "high"``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from relaykit.delivery.ratelimit import RATE_LIMIT_PLUGIN_NAME, RateLimiter
from relaykit.delivery.worker import Worker
from relaykit.results import Priority
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, Stack, phone, student

OTP_DATA = {"code": "482193", "expires_minutes": "5", "service_name": "North High Portal"}
#: a sandbox number whose messages stay "sent": no delivery report ever comes
NEVER_DELIVERED = "+15005550033"
SMS = {"channel": "sms", "instance": "sms"}
MAIL = {"channel": "email", "instance": "mail"}


def routes(**otp: Any) -> dict[str, Any]:
    """The default route (SMS then email) and an OTP route: SMS only, 30 s, high priority."""
    step = {**SMS, "validity_period": otp.pop("validity_period", 30)}
    route = {"steps": [step], "deadline_seconds": 30, "priority": "high", **otp}
    return {"routes": {"default": {"steps": [SMS, MAIL]}, "otp": route}}


async def test_an_otp_goes_by_sms_with_its_validity_period(make_stack: MakeStack) -> None:
    stack = await make_stack(routes())

    record = await stack.relay.anotify(TENANT, "otp", student(phone("+15005550070")), OTP_DATA)
    await stack.settle()

    (sent,) = stack.sandbox.sent_to("+15005550070")
    assert sent.validity_period == 30 and sent.body.startswith("482193 is your")
    after = stack.relay.delivery(record.id)
    assert after is not None and after.state == "delivered" and after.fallbacks == []
    assert [m.priority for m in after.messages] == [Priority.HIGH]


async def test_a_missed_deadline_fails_the_otp_with_its_reason_and_sends_no_email(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(routes())
    record = await stack.relay.anotify(TENANT, "otp", student(phone(NEVER_DELIVERED)), OTP_DATA)
    await stack.settle()

    moved = await stack.relay.sweep_deadlines(datetime.now(UTC) + timedelta(seconds=31))

    after = stack.relay.delivery(record.id)
    assert moved == 1
    assert after is not None and after.state == "failed"
    assert after.fallbacks == [("sms", "deadline")]
    assert stack.sink.received == []  # the recipient has an email address: not used


async def test_an_otp_expired_in_twilios_queue_fails_with_30036_and_sends_no_email(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(routes(validity_period=1))
    stack.sandbox.faults.queue_ms = 1500  # Twilio's queue for the sender is 1.5 s long

    record = await stack.relay.anotify(TENANT, "otp", student(phone("+15005550071")), OTP_DATA)
    await stack.settle()

    after = stack.relay.delivery(record.id)
    assert after is not None and after.state == "failed"
    (message,) = after.messages
    assert (message.status, message.error_code) == ("failed", "30036")
    assert after.fallbacks == [("sms", "undelivered")]
    assert stack.sink.received == []


async def test_a_claim_takes_a_high_priority_message_before_older_normal_ones(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(routes(), inline=False)
    for n in range(5):
        await stack.relay.anotify(TENANT, "attendance_absence", backlog_person(n), SCHOOL_DATA)
    otp = await stack.relay.anotify(TENANT, "otp", student(phone("+15005550072")), OTP_DATA)

    (first,) = await stack.relay.unit.claim_due(1)
    rest = await stack.relay.unit.claim_due(10)

    assert first.message.id == otp.messages[0].id and first.message.priority is Priority.HIGH
    assert len(rest) == 5 and {c.message.priority for c in rest} == {Priority.NORMAL}


# -- an OTP during a broadcast-sized backlog on the same sender --------------------------------

RATE = 20.0  # SMS a second from the one sender
BACKLOG = 300  # 15 s of sending at RATE
#: normal messages the sandbox may accept after the OTP was committed and before the OTP:
#: the worker refills a free slot within a poll interval (0.2 s = 4 tokens at RATE)
AHEAD_AT_MOST = 5


def backlog_person(n: int) -> dict[str, Any]:
    return student(phone(f"+1500555{5000 + n}"), email=f"p{n}@x.org", id=f"stu-{n}")


def pace(stack: Stack) -> None:
    """A long code's pacing, scaled up: RATE per second, no burst allowance."""
    instance = stack.relay.tenant(TENANT).instances["sms"]
    instance.rate_per_second, instance.burst = RATE, 1.0
    limiter = stack.relay.host.plugins.pm.get_plugin(RATE_LIMIT_PLUGIN_NAME)
    assert isinstance(limiter, RateLimiter)


async def until(condition: Any, what: str, seconds: float = 60.0) -> None:
    """Poll ``condition()`` (not a time bound on the behaviour: a guard against a hang)."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


async def test_an_otp_is_not_delayed_behind_a_running_backlog_on_the_same_sender(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(routes(), inline=False)
    pace(stack)
    records = await asyncio.gather(
        *(
            stack.relay.anotify(TENANT, "attendance_absence", backlog_person(n), SCHOOL_DATA)
            for n in range(BACKLOG)
        )
    )
    worker = Worker(stack.relay)
    running = asyncio.create_task(worker.run())
    try:
        await until(lambda: len(stack.sandbox.messages) >= 40, "the backlog to be under way")
        before = len(stack.sandbox.messages)
        otp = await stack.relay.anotify(TENANT, "otp", student(phone("+15005550073")), OTP_DATA)
        await until(lambda: stack.sandbox.sent_to("+15005550073"), "the OTP at the sandbox")
    finally:
        worker.stop()
        await running

    sent = stack.sandbox.messages
    at = next(i for i, m in enumerate(sent) if m.to == "+15005550073")
    assert at - before <= AHEAD_AT_MOST, f"{at - before} normal messages went ahead of the OTP"
    assert stack.relay.delivery(otp.id).messages[0].attempt_count == 1  # type: ignore[union-attr]
    # the backlog is still paced at RATE, not diverted: nothing by email, nothing fell back
    normal = [m for m in sent if m.to != "+15005550073"]
    span = (normal[-1].date_created - normal[0].date_created).total_seconds()
    assert len(normal) < BACKLOG and span >= (len(normal) - 2) / RATE
    assert stack.sink.received == []
    after = [stack.relay.delivery(r.id) for r in records]
    assert [d.fallbacks for d in after if d is not None and d.fallbacks] == []
    left = [d for d in after if d is not None and d.state == "pending"]
    assert len(left) == BACKLOG - len(normal)  # still queued for their turn


async def test_a_burst_of_otps_takes_no_line_but_is_paced_among_itself(
    make_stack: MakeStack,
) -> None:
    """Going ahead of the line is one token's time per OTP, not a way round the rate."""
    stack = await make_stack(routes())
    pace(stack)
    line = "north-high/sms:sms:default"
    for _ in range(100):  # five seconds of sends already waiting for their turn
        await stack.relay.store.rate_buckets.areserve(line, RATE, 1.0)
    people = [student(phone(f"+1500555{7000 + n}"), id=f"otp-{n}") for n in range(10)]

    records = await asyncio.gather(
        *(stack.relay.anotify(TENANT, "otp", person, OTP_DATA) for person in people)
    )

    assert {r.channel.value for r in records if r.channel} == {"sms"}
    assert all(r.messages[0].attempt_count == 1 for r in records)  # none queued in the store
    created = sorted(m.date_created for m in stack.sandbox.messages)
    assert len(created) == 10
    # 9 token times apart at the sender, less the jitter of the HTTP calls (all at once: ~0)
    assert (created[-1] - created[0]).total_seconds() >= 6 / RATE
