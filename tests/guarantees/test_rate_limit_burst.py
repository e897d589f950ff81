"""A burst larger than a sender's rate is paced, never diverted (issue 10, item 2; PITFALLS 33)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from relaykit.delivery.ratelimit import RATE_LIMIT_PLUGIN_NAME, RateLimiter
from relaykit.delivery.worker import Worker
from relaykit.store.tables import rate_buckets
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student

EVENT = "attendance_absence"
RATE = 20.0  # SMS per second from the one sender
MAX_WAIT = 0.25  # seconds a send may wait in the middleware before it is queued instead
BURST = 60  # three seconds of sending at RATE


def pace(stack) -> None:  # type: ignore[no-untyped-def]
    """A long code's pacing, scaled down: RATE per second, no burst allowance."""
    instance = stack.relay.tenant(TENANT).instances["sms"]
    instance.rate_per_second, instance.burst = RATE, 1.0
    limiter = stack.relay.host.plugins.pm.get_plugin(RATE_LIMIT_PLUGIN_NAME)
    assert isinstance(limiter, RateLimiter)
    limiter.max_wait = MAX_WAIT


async def test_rate_limit_burst_is_paced_not_diverted_to_email(
    make_stack: MakeStack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = await make_stack()
    pace(stack)
    people = [student(phone(f"+1500555{4000 + n}"), email=f"p{n}@x.org") for n in range(BURST)]

    with caplog.at_level(logging.INFO):
        records = await asyncio.gather(
            *(stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA) for person in people)
        )

    after = [stack.relay.delivery(r.id) for r in records]
    assert [d.fallbacks for d in after if d and d.fallbacks] == []
    assert {d.channel.value for d in after if d and d.channel} == {"sms"}
    assert {m.attempt_count for d in after if d for m in d.messages} == {1}  # waits are no attempts
    assert len(stack.sandbox.messages) == BURST
    assert stack.sink.received == []
    paced = [r.levelname for r in caplog.records if "PacedError" in r.getMessage()]
    assert paced and set(paced) == {"INFO"}  # waiting in line is logged, but is no failure
    with stack.relay.store.engine.connect() as connection:
        [level] = connection.execute(rate_buckets.select()).all()
    assert level.tokens >= -RATE * MAX_WAIT  # never in debt beyond the sends waiting in line

    # the next OTP goes by SMS at once: nothing is owed
    later = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005554999")), SCHOOL_DATA)
    assert later.fallbacks == [] and later.channel is not None and later.channel.value == "sms"
    assert later.messages[0].attempt_count == 1


async def test_a_deadline_diverts_a_queued_sms_to_email_without_sending_the_sms_too(
    make_stack: MakeStack,
) -> None:
    """The tenant's rule to divert: a route deadline passing while the SMS is still queued."""
    sms, mail = {"channel": "sms", "instance": "sms"}, {"channel": "email", "instance": "mail"}
    routes = {"default": {"steps": [sms, mail], "deadline_seconds": 30}}
    stack = await make_stack({"routes": routes}, inline=False)
    records = [
        await stack.relay.anotify(TENANT, EVENT, student(phone(f"+1500555{4100 + n}")), SCHOOL_DATA)
        for n in range(3)
    ]

    moved = await stack.relay.sweep_deadlines(datetime.now(UTC) + timedelta(seconds=31))
    await asyncio.wait_for(Worker(stack.relay, poll_interval=0.01).run(until_idle=True), 30)

    assert moved == 3
    assert [stack.relay.delivery(r.id).fallbacks for r in records] == [[("sms", "deadline")]] * 3  # type: ignore[union-attr]
    assert len(stack.emails_to("parent@example.org")) == 3
    assert stack.sandbox.messages == []
