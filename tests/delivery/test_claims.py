"""Claiming due messages for attempts, on SQLite and PostgreSQL: one statement per batch,
oldest first, never more than asked, and never one message twice."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from relaykit.results import Channel, Priority
from relaykit.store import Claimed, NewMessage, Store
from relaykit.store.states import LocalStatus


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    try:
        yield opened
    finally:
        opened.close()


async def queued(store: Store, count: int) -> list[str]:
    """``count`` notifications, each with one pending SMS, created one after another; their
    message ids, oldest first."""
    ids = []
    for index in range(count):
        made = await store.deliveries.astart(
            tenant="north-high",
            event="attendance_absence",
            recipient={"id": f"stu-{index}"},
            data={},
            staff=None,
            idempotency_key=None,
            planned=[NewMessage(0, Channel.SMS, "sms", f"+1212200{index:04d}", "Absent today.")],
        )
        ids.append(made.messages[0].id)
    return ids


@pytest.mark.parametrize("count", [1, 40])
async def test_a_claim_is_one_update_and_one_insert_whatever_the_batch(
    store: Store, count: int
) -> None:
    ids = await queued(store, count)
    statements: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT")):
            statements.append(sql.split()[0].upper())

    event.listen(store.engine, "before_cursor_execute", on_statement)
    try:
        claimed = await store.deliveries.aclaim_due(100)
    finally:
        event.remove(store.engine, "before_cursor_execute", on_statement)

    update = "WITH" if store.engine.dialect.name == "postgresql" else "UPDATE"  # WITH … UPDATE
    assert statements == [update, "INSERT"]
    assert sorted(c.message.id for c in claimed) == sorted(ids)
    assert {(c.attempt, c.message.status) for c in claimed} == {(1, LocalStatus.SUBMITTING)}


async def test_a_claim_takes_the_oldest_due_and_no_more_than_asked(store: Store) -> None:
    ids = await queued(store, 5)

    first = store.deliveries.claim_due(2)
    rest = store.deliveries.claim_due(10)

    assert {c.message.id for c in first} == set(ids[:2])
    assert {c.message.id for c in rest} == set(ids[2:])
    assert store.deliveries.claim_due(10) == []


async def test_concurrent_claims_never_take_one_message_twice(store: Store) -> None:
    ids = await queued(store, 120)
    taken: list[list[Claimed]] = [[] for _ in range(4)]

    def claim_until_empty(mine: list[Claimed]) -> None:
        while batch := store.deliveries.claim_due(7):
            mine.extend(batch)

    def race() -> None:
        threads = [threading.Thread(target=claim_until_empty, args=(t,)) for t in taken]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    await asyncio.to_thread(race)

    claimed = [c.message.id for mine in taken for c in mine]
    assert sorted(claimed) == sorted(ids)  # each exactly once


async def test_a_claim_takes_high_priority_messages_first_then_the_oldest(store: Store) -> None:
    """An OTP queued behind a backlog is in the next claim, on SQLite and PostgreSQL."""
    backlog = await queued(store, 6)
    made = await store.deliveries.astart(
        tenant="north-high",
        event="otp",
        recipient={"id": "stu-otp"},
        data={},
        staff=None,
        idempotency_key=None,
        planned=[
            NewMessage(0, Channel.SMS, "sms", "+12122009999", "Code 482193", priority=Priority.HIGH)
        ],
    )
    otp = made.messages[0].id

    first = await store.deliveries.aclaim_due(3)
    rest = await store.deliveries.aclaim_due(10)

    assert {c.message.id for c in first} == {otp, *backlog[:2]}
    assert {c.message.id for c in rest} == set(backlog[2:])
