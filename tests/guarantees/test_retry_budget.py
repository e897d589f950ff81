"""Retries outlast ordinary outages; an operator can re-drive what failed (issue 10, item 11)."""

from __future__ import annotations

import asyncio

from relaykit.delivery import RetryPolicy
from relaykit.delivery.worker import Worker
from relaykit.results import Channel
from relaykit.service import EmbeddedServer, create_app
from relaykit_email.sandbox import SmtpSink, serve_smtp
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student

EVENT = "attendance_absence"
EMAIL_ONLY = {"default": {"steps": [{"channel": "email", "instance": "mail"}]}}
OUTAGE_S = 2.5  # longer than the old defaults' three attempts (at most 1.5 s of backoff)


async def test_a_short_smtp_outage_does_not_fail_email_with_the_default_retries(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(
        {"routes": EMAIL_ONLY}, inline=False, smtp_running=False, retry=RetryPolicy()
    )
    people = [student(email=f"parent{n}@example.org", id=f"stu-{n}") for n in range(10)]
    records = [await stack.relay.anotify(TENANT, EVENT, p, SCHOOL_DATA) for p in people]
    worker = Worker(stack.relay, poll_interval=0.01)
    running = asyncio.create_task(worker.run())

    await asyncio.sleep(OUTAGE_S)  # the SMTP server is down this long, then back
    sink = SmtpSink()
    async with serve_smtp(sink, port=stack.smtp_port):
        for _ in range(600):  # until every email went (at most a minute)
            states = {stack.relay.delivery(r.id).state for r in records}  # type: ignore[union-attr]
            if states <= {"sent", "failed"} or running.done():
                break
            await asyncio.sleep(0.1)
        worker.stop()
        await running

    after = [stack.relay.delivery(r.id) for r in records]
    assert [d.state for d in after if d] == ["sent"] * 10
    assert min(m.attempt_count for d in after if d for m in d.messages) >= 2
    assert sorted(m.rcpt_tos[0] for m in sink.received) == sorted(p["email"] for p in people)


async def test_notify_leaves_a_later_retry_in_the_database_instead_of_failing(
    make_stack: MakeStack,
) -> None:
    """Inline, ``notify`` waits a little; the rest of the retry budget is the worker's."""
    policy = RetryPolicy(base_delay=0.05, max_delay=0.1, inline_wait=0.3)
    stack = await make_stack({"routes": EMAIL_ONLY}, smtp_running=False, retry=policy)

    record = await stack.relay.anotify(TENANT, EVENT, student(), SCHOOL_DATA)

    assert record.state == "pending" and record.messages[0].status == "retrying"
    sink = SmtpSink()
    async with serve_smtp(sink, port=stack.smtp_port):
        await asyncio.wait_for(Worker(stack.relay, poll_interval=0.01).run(until_idle=True), 30)
    after = stack.relay.delivery(record.id)
    assert after is not None and after.state == "sent"
    assert [m.rcpt_tos for m in sink.received] == [("parent@example.org",)]


async def test_a_failed_email_is_redriven_by_an_operator_once_the_server_is_back(
    make_stack: MakeStack,
) -> None:
    policy = RetryPolicy(max_attempts=2, base_delay=0.01)
    stack = await make_stack({"routes": EMAIL_ONLY}, smtp_running=False, retry=policy)
    record = await stack.relay.anotify(TENANT, EVENT, student(), SCHOOL_DATA)
    assert record.state == "failed" and record.fallbacks == [("email", "retries_exhausted")]

    sink = SmtpSink()
    async with serve_smtp(sink, port=stack.smtp_port):
        retried = await stack.relay.aretry_message(record.messages[0].id)
        again = await stack.relay.aretry_message(record.messages[0].id)

    after = stack.relay.delivery(record.id)
    assert (retried, again) == (True, False)  # a sent message is never re-driven
    assert after is not None and after.state == "sent" and after.fallbacks == []
    assert [m.rcpt_tos for m in sink.received] == [("parent@example.org",)]
    assert [c.source for c in after.messages[0].timeline].count("operator") == 1


async def test_a_message_another_channel_carries_is_not_redriven(make_stack: MakeStack) -> None:
    """SMS failed and the email went: re-driving the SMS would notify the person twice."""
    stack = await make_stack(retry=RetryPolicy(max_attempts=1))
    stack.sandbox.faults.update(fail_creates=1)
    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005552400")), SCHOOL_DATA)
    assert record.fallbacks == [("sms", "retries_exhausted")]

    assert await stack.relay.aretry_message(record.messages[0].id) is False
    assert stack.sandbox.sent_to("+15005552400") == []
    assert len(stack.emails_to("parent@example.org")) == 1


async def test_serve_sends_the_retries_notify_left_in_the_database(make_stack: MakeStack) -> None:
    """Inline delivery with no worker: ``serve`` itself sends what is due."""
    policy = RetryPolicy(base_delay=0.05, max_delay=0.1, inline_wait=0.2)
    stack = await make_stack({"routes": EMAIL_ONLY}, smtp_running=False, retry=policy)
    record = await stack.relay.anotify(TENANT, EVENT, student(), SCHOOL_DATA)
    assert record.messages[0].status == "retrying"

    sink = SmtpSink()
    async with serve_smtp(sink, port=stack.smtp_port):
        server = EmbeddedServer()
        async with server.serving(create_app(stack.relay, sweep_interval_s=0.05)):
            for _ in range(200):  # up to 10 s
                if sink.received:
                    break
                await asyncio.sleep(0.05)

    after = stack.relay.delivery(record.id)
    assert after is not None and after.state == "sent"
    assert [m.rcpt_tos for m in sink.received] == [("parent@example.org",)]


async def test_each_channel_has_its_own_retry_budget(make_stack: MakeStack) -> None:
    """SMS stops retrying when its (short) budget is spent and the route goes on to email."""
    policy = RetryPolicy(base_delay=0.05, max_delay=0.1, retry_for={Channel.SMS: 0.3})
    stack = await make_stack(retry=policy)
    stack.sandbox.faults.update(fail_creates=1000)

    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005552401")), SCHOOL_DATA)

    assert record.fallbacks == [("sms", "retries_exhausted")]
    assert record.messages[0].attempt_count >= 3  # retried within its 0.3 s, then stopped
    assert record.channel == Channel.EMAIL and record.state == "sent"
    assert len(stack.emails_to("parent@example.org")) == 1
