"""Broadcasts end to end: the Twilio sandbox, the SMTP sink, the seed rules per recipient."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

from relaykit.delivery.broadcast import BroadcastRun
from relaykit.recipient_files import BadRow, RecipientRow, parse_jsonl
from relaykit.recipients import Recipient
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student

EVENT = "attendance_absence"


def people(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        student(phone(f"+1500555{4000 + n}"), email=f"p{n}@example.org", id=f"s{n}")
        for n in range(start, start + count)
    ]


async def test_each_recipient_goes_its_own_way_with_its_reason(make_stack: MakeStack) -> None:
    stack = await make_stack()
    stack.relay.store.optouts.set(TENANT, "sms", ["+15005554002"], opted_out=True, source="STOP")
    recipients = [
        student(phone("+15005554001"), email="a@example.org", id="a"),
        student(phone("+15005554002"), email="b@example.org", id="b"),  # opted out of SMS
        student(email="c@example.org", id="c"),  # no phone
        {"id": "", "email": "nobody@example.org"},  # bad: an empty id
        student(email=None, id="d"),  # no way to reach them
    ]

    status = await stack.relay.arun_broadcast(TENANT, EVENT, recipients, SCHOOL_DATA, key="alert-1")
    await stack.settle()

    assert [m.to for m in stack.sandbox.messages] == ["+15005554001"]
    assert {a for m in stack.sink.received for a in m.rcpt_tos} == {
        "b@example.org",
        "c@example.org",
    }
    assert status.state == "finished" and status.recipients_read == 5 and status.bad_rows == 1
    assert status.by_channel == {"sms": 1, "email": 2}
    assert status.failed == 1 and status.notifications == 4
    assert status.fallback_reasons["opted_out"] == 1
    assert status.fallback_reasons["no_number"] >= 2  # c, and d before it ran out of steps
    assert status.fallen_back == 3


async def test_the_same_key_again_sends_nothing_twice(make_stack: MakeStack) -> None:
    stack = await make_stack()
    first = await stack.relay.arun_broadcast(TENANT, EVENT, people(30), SCHOOL_DATA, key="k")
    again = await stack.relay.arun_broadcast(TENANT, EVENT, people(40), SCHOOL_DATA, key="k")

    sends = collections.Counter(m.to for m in stack.sandbox.messages)
    assert first.id == again.id
    assert len(sends) == 40 and set(sends.values()) == {1}  # the 10 new ones, once each
    assert again.by_channel == {"sms": 40}


async def test_rows_from_a_file_carry_their_own_data_and_bad_lines(make_stack: MakeStack) -> None:
    stack = await make_stack()
    lines = [
        '{"recipient": {"id": "x", "phones": [{"number": "+15005554010",'
        ' "sms_status": "enabled"}]}, "data": {"student_name": "Ada"}}',
        "not json",
        '{"id": "y", "email": "y@example.org"}',
        '{"recipient": {"id": "z", "email": "z@example.org"}, "data": {"student_name": null}}',
    ]
    runs: list[BroadcastRun] = []
    status = await stack.relay.arun_broadcast(
        TENANT, EVENT, parse_jsonl(lines), SCHOOL_DATA, key="file", on_start=runs.append
    )
    assert status.bad_rows == 2 and status.by_channel == {"sms": 1, "email": 1}
    assert [row.line for row in runs[0].bad_rows] == [2, 4]  # not JSON; no student_name
    assert "student_name" in runs[0].bad_rows[1].reason
    assert "Ada" in stack.sandbox.messages[0].body


async def test_an_async_stream_of_recipients(make_stack: MakeStack) -> None:
    stack = await make_stack()

    async def stream() -> AsyncIterator[Recipient | RecipientRow | BadRow]:
        for person in people(5):
            yield Recipient.model_validate(person)
        yield BadRow(7, "nope")

    status = await stack.relay.arun_broadcast(TENANT, EVENT, stream(), SCHOOL_DATA)
    assert status.sent == 5 and status.bad_rows == 1 and status.key.startswith("auto-")


async def test_cancel_withdraws_what_is_not_yet_sent(make_stack: MakeStack) -> None:
    stack = await make_stack(inline=False)  # queued: nothing is sent without a worker
    status = await stack.relay.arun_broadcast(TENANT, EVENT, people(12), SCHOOL_DATA, key="c")
    assert status.pending == 12

    assert stack.relay.cancel_broadcast(status.id)
    after = stack.relay.broadcast_status(status.id)

    assert after is not None and after.state == "cancelled"
    assert after.failed == 12 and after.pending == 0
    assert await stack.relay.send_due(100) == 0 and stack.sandbox.messages == []
    assert not stack.relay.cancel_broadcast("no-such-broadcast")


async def test_abroadcast_returns_the_id_at_once_and_runs_as_a_task(make_stack: MakeStack) -> None:
    stack = await make_stack()
    broadcast_id = await stack.relay.abroadcast(TENANT, EVENT, people(20), SCHOOL_DATA)
    assert stack.sandbox.messages == []  # nothing yet: the task has not run
    await stack.relay._broadcast_runs[broadcast_id][1]
    status = stack.relay.broadcast_status(broadcast_id)
    assert status is not None and status.state == "finished" and status.sent == 20


async def test_the_synchronous_broadcast_returns_at_once_and_runs_on_its_own_thread(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    broadcast_id = await asyncio.to_thread(
        stack.relay.broadcast, TENANT, EVENT, iter(people(25)), SCHOOL_DATA, key="sync"
    )
    assert await asyncio.to_thread(stack.relay._background.join, broadcast_id, 60)

    status = stack.relay.broadcast_status(broadcast_id)
    assert status is not None and status.state == "finished" and status.sent == 25
    assert len({m.to for m in stack.sandbox.messages}) == 25
