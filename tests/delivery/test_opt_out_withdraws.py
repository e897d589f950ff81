"""An opt-out withdraws the person's SMS still waiting to be sent: no attempt, the reason shown."""

from __future__ import annotations

import asyncio

from relaykit.delivery import RetryPolicy
from relaykit.delivery.worker import Worker
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, Stack, phone, student

EVENT = "attendance_absence"
NUMBER = "+15005552300"


async def drain(stack: Stack) -> None:
    await asyncio.wait_for(Worker(stack.relay, poll_interval=0.01).run(until_idle=True), 30)


async def test_a_queued_sms_to_a_person_who_texts_stop_is_withdrawn_and_goes_by_email(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(inline=False)
    record = await stack.relay.anotify(TENANT, EVENT, student(phone(NUMBER)), SCHOOL_DATA)
    assert [m.status for m in record.messages] == ["pending"]  # committed, not sent

    await stack.sandbox.simulate_inbound(NUMBER, "+15005550006", "STOP")
    await drain(stack)

    after = stack.relay.delivery(record.id)
    assert after is not None and after.fallbacks == [("sms", "opted_out")]
    sms, mail = after.messages
    assert (sms.status, sms.attempt_count) == ("canceled", 0)  # never handed to Twilio
    assert stack.sandbox.sent_to(NUMBER) == []
    assert mail.channel.value == "email" and len(stack.emails_to("parent@example.org")) == 1


async def test_an_sms_waiting_for_its_retry_is_withdrawn_by_stop(make_stack: MakeStack) -> None:
    stack = await make_stack(inline=False, retry=RetryPolicy(max_attempts=3, base_delay=0.5))
    stack.sandbox.faults.update(fail_creates=1)  # the first attempt fails: a retry is planned
    record = await stack.relay.anotify(TENANT, EVENT, student(phone(NUMBER)), SCHOOL_DATA)
    [claimed] = stack.relay.store.deliveries.claim_due(1)
    message_id = claimed.message.id
    await stack.relay.dispatcher.attempt(claimed)
    retrying = stack.relay.store.deliveries.message(message_id)
    assert retrying is not None and retrying.status == "retrying"

    await stack.sandbox.simulate_inbound(NUMBER, "+15005550006", "STOP")
    await asyncio.sleep(0.6)  # the retry is due now
    await drain(stack)

    after = stack.relay.delivery(record.id)
    assert after is not None and after.fallbacks == [("sms", "opted_out")]
    sms = after.messages[0]
    assert (sms.status, sms.attempt_count) == ("canceled", 1)  # the failed attempt only
    assert "withdrawn before sending: opted_out" in [c.detail for c in sms.timeline]
    assert stack.sandbox.sent_to(NUMBER) == []


async def test_a_21610_refusal_at_send_withdraws_the_persons_other_queued_sms(
    make_stack: MakeStack,
) -> None:
    opted_out_at_twilio = "+15005550004"  # the sandbox refuses it with 21610 at create
    stack = await make_stack(inline=False)
    person = student(phone(opted_out_at_twilio))
    first = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    second = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    [claimed] = stack.relay.store.deliveries.claim_ids([first.messages[0].id])
    await stack.relay.dispatcher.attempt(claimed)
    await drain(stack)

    refused, withdrawn = stack.relay.delivery(first.id), stack.relay.delivery(second.id)
    assert refused is not None and withdrawn is not None
    assert refused.messages[0].error_code == "21610"
    sms = withdrawn.messages[0]
    assert (sms.status, sms.attempt_count) == ("canceled", 0)  # never handed to Twilio again
    assert withdrawn.fallbacks == [("sms", "opted_out")]
    assert len(stack.emails_to("parent@example.org")) == 2  # both went by email
