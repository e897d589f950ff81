"""What the worker does when things break: retries, backoff, Retry-After, maybe-sent, fallback.

The Twilio sandbox's fault knobs cause each failure for real over HTTP; the
message report must explain every outcome.
"""

from __future__ import annotations

import asyncio

from relaykit.delivery import RetryPolicy
from relaykit.delivery.worker import Worker
from relaykit_email.sandbox import SmtpSink, serve_smtp
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student

EVENT = "attendance_absence"


async def queue(stack, *numbers: str) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for number in numbers:
        record = await stack.relay.anotify(TENANT, EVENT, student(phone(number)), SCHOOL_DATA)
        assert [m.status for m in record.messages] == ["pending"]  # committed, not sent
        ids.append(record.id)
    return ids


async def drain(stack) -> None:  # type: ignore[no-untyped-def]
    await asyncio.wait_for(Worker(stack.relay, poll_interval=0.01).run(until_idle=True), 30)


async def test_queued_messages_are_sent_by_the_worker(make_stack: MakeStack) -> None:
    stack = await make_stack(inline=False)
    ids = await queue(stack, *(f"+1500555{2000 + n}" for n in range(20)))

    await drain(stack)
    await stack.settle()

    assert {stack.relay.delivery(i).state for i in ids} == {"delivered"}  # type: ignore[union-attr]
    assert len(stack.sandbox.messages) == 20


async def test_server_errors_are_retried_with_backoff_then_sent(make_stack: MakeStack) -> None:
    stack = await make_stack(inline=False)
    stack.sandbox.faults.update(fail_creates=2)
    [delivery_id] = await queue(stack, "+15005552100")

    await drain(stack)

    record = stack.relay.delivery(delivery_id)
    assert record is not None and record.state == "sent" and record.fallbacks == []
    [message] = record.messages
    assert message.attempt_count == 3
    assert [c.status for c in message.timeline if c.source == "send"] == [
        "retrying",
        "retrying",
        "queued",
    ]
    assert len(stack.sandbox.messages) == 1


async def test_429_waits_for_retry_after(make_stack: MakeStack) -> None:
    stack = await make_stack(inline=False)
    stack.sandbox.faults.update(rate_limit_creates=1, retry_after=1)
    [delivery_id] = await queue(stack, "+15005552101")

    started = asyncio.get_running_loop().time()
    await drain(stack)

    assert asyncio.get_running_loop().time() - started >= 0.9
    record = stack.relay.delivery(delivery_id)
    assert record is not None and record.messages[0].attempt_count == 2
    retried = [c for c in record.messages[0].timeline if c.status == "retrying"]
    assert [c.error_code for c in retried] == ["20429"]


async def test_a_maybe_sent_message_is_reconciled_not_sent_twice(make_stack: MakeStack) -> None:
    """PITFALLS 24: a 500 after the message was created is looked up before any resend."""
    stack = await make_stack(inline=False)
    stack.sandbox.faults.update(fail_after_create=1)
    [delivery_id] = await queue(stack, "+15005552102")

    await drain(stack)

    record = stack.relay.delivery(delivery_id)
    assert record is not None and record.state == "sent"
    assert len(stack.sandbox.sent_to("+15005552102")) == 1
    assert record.messages[0].provider_message_id == stack.sandbox.sent_to("+15005552102")[0].sid


async def test_a_dropped_connection_before_creating_is_retried(make_stack: MakeStack) -> None:
    stack = await make_stack(inline=False)
    stack.sandbox.faults.update(drop_creates=1)
    [delivery_id] = await queue(stack, "+15005552103")

    await drain(stack)

    assert stack.relay.delivery(delivery_id).state == "sent"  # type: ignore[union-attr]
    assert len(stack.sandbox.sent_to("+15005552103")) == 1


async def test_exhausted_retries_fall_back_to_email_with_the_reason(make_stack: MakeStack) -> None:
    stack = await make_stack(inline=False, retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    stack.sandbox.faults.update(fail_creates=5)
    [delivery_id] = await queue(stack, "+15005552104")

    await drain(stack)

    record = stack.relay.delivery(delivery_id)
    assert record is not None
    assert record.fallbacks == [("sms", "retries_exhausted")]
    assert record.channel is not None and record.channel.value == "email"
    assert len(stack.emails_to("parent@example.org")) == 1


async def test_email_waits_while_the_smtp_server_is_down_and_goes_when_it_is_back(
    make_stack: MakeStack,
) -> None:
    routes = {"default": {"steps": [{"channel": "email", "instance": "mail"}]}}
    stack = await make_stack(
        {"routes": routes},
        inline=False,
        smtp_running=False,
        retry=RetryPolicy(max_attempts=50, base_delay=0.05, max_delay=0.2),
    )
    record = await stack.relay.anotify(TENANT, EVENT, student(), SCHOOL_DATA)
    worker = asyncio.create_task(drain(stack))
    for _ in range(100):  # until the worker has failed to connect at least once
        await asyncio.sleep(0.05)
        message = stack.relay.delivery(record.id).messages[0]  # type: ignore[union-attr]
        if message.status == "retrying":
            break
    assert message.status == "retrying" and message.error_message

    sink = SmtpSink()
    async with serve_smtp(sink, port=stack.smtp_port):
        await worker

    after = stack.relay.delivery(record.id)
    assert after is not None and after.state == "sent"
    assert after.messages[0].attempt_count >= 2
    assert [m.rcpt_tos for m in sink.received] == [("parent@example.org",)]


async def test_status_callbacks_out_of_order_and_duplicated_leave_the_right_status(
    make_stack: MakeStack,
) -> None:
    from relaykit import CallbackOutcome, MessageStatus, StatusUpdate

    stack = await make_stack()
    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005552105")), SCHOOL_DATA)
    await stack.settle()
    sid = record.messages[0].provider_message_id
    assert sid is not None

    late = CallbackOutcome(
        events=(
            StatusUpdate(sid, MessageStatus.SENT, dedupe_key="late-sent"),
            StatusUpdate(sid, MessageStatus.FAILED, error_code="30008", dedupe_key="late-failed"),
            StatusUpdate(sid, MessageStatus.FAILED, error_code="30008", dedupe_key="late-failed"),
        )
    )
    await stack.relay.apply_callback(TENANT, "sms", late)

    after = stack.relay.delivery(record.id)
    assert after is not None and after.state == "delivered" and after.fallbacks == []
    message = after.messages[0]
    assert message.status == "delivered"
    ignored = [(c.status, c.applied) for c in message.timeline if c.source == "callback"][-2:]
    assert ignored == [("sent", False), ("failed", False)]  # the duplicate was dropped before
    assert stack.emails_to("parent@example.org") == []


async def test_the_sweeper_recovers_a_status_whose_callback_was_lost(make_stack: MakeStack) -> None:
    """PITFALLS 9: Twilio retries a failed callback once; the sweeper fetches the status."""
    stack = await make_stack(inline=False, settings={"delivery": {"stuck_after_minutes": 0.0001}})
    stack.sandbox.faults.update(lose_callbacks=10)
    [delivery_id] = await queue(stack, "+15005552106")
    await drain(stack)
    await stack.settle()
    assert stack.relay.delivery(delivery_id).messages[0].status == "queued"  # type: ignore[union-attr]

    swept = await Worker(stack.relay).sweep_stuck()

    assert swept == 1
    assert stack.relay.delivery(delivery_id).state == "delivered"  # type: ignore[union-attr]


async def test_permanent_provider_errors_are_never_retried(make_stack: MakeStack) -> None:
    """PITFALLS 25: 21211, 21612, 21408, 21614 go to the next channel after one attempt."""
    stack = await make_stack(inline=False)
    ids = await queue(stack, "+15005550001", "+15005550002", "+15005550009")

    await drain(stack)

    for delivery_id, code in zip(ids, ["21211", "21612", "21614"], strict=True):
        record = stack.relay.delivery(delivery_id)
        assert record is not None and record.fallbacks == [("sms", "provider_error")]
        assert (record.messages[0].attempt_count, record.messages[0].error_code) == (1, code)
    assert stack.sandbox.create_attempts == 3


async def test_no_database_lock_is_held_across_a_slow_provider_call(make_stack: MakeStack) -> None:
    """PITFALLS 21: while the worker waits 2 s on the provider, others can still write."""
    stack = await make_stack(inline=False)
    stack.sandbox.faults.update(latency_ms=2000)
    await queue(stack, "+15005552200")
    worker = asyncio.create_task(drain(stack))
    while stack.sandbox.create_attempts == 0:
        await asyncio.sleep(0.01)

    started = asyncio.get_running_loop().time()
    await asyncio.to_thread(
        lambda: stack.relay.store.optouts.set(
            TENANT, "sms", ["+15005552201"], opted_out=True, source="t"
        )
    )
    elapsed = asyncio.get_running_loop().time() - started
    await worker

    assert elapsed < 0.5


async def test_a_send_timeout_whose_lookup_also_times_out_is_never_sent_twice(
    make_stack: MakeStack,
) -> None:
    """PITFALLS 24: the answer to a create is late, and so is the lookup that asks whether it
    went out. "Could not tell" is not "not sent": the attempt stays in flight until a lookup
    answers, and the message is adopted, not sent again."""
    stack = await make_stack(
        inline=False,
        sms_settings={"request_timeout_seconds": 0.2},
        retry=RetryPolicy(max_attempts=5, base_delay=0.01),
        settings={"delivery": {"stale_after_seconds": 0.5}},
    )
    stack.sandbox.faults.update(latency_ms=600)  # every answer, the lookup's too, comes too late
    [delivery_id] = await queue(stack, "+15005552300")
    worker = asyncio.create_task(
        Worker(stack.relay, poll_interval=0.01, housekeeping_interval=0.2).run(until_idle=True)
    )
    await asyncio.sleep(2.0)  # several rounds of attempts and lookups while the provider is slow
    stack.sandbox.faults.reset()
    await asyncio.wait_for(worker, 30)

    assert len(stack.sandbox.sent_to("+15005552300")) == 1
    record = stack.relay.delivery(delivery_id)
    assert record is not None and record.channel == "sms" and record.fallbacks == []
    assert [m.status for m in record.messages] in (["sent"], ["delivered"])
