"""Group commit: concurrent writes share transactions, and one write's conflict stays its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text

from relaykit.results import Channel
from relaykit.store import NewMessage, Store

RECIPIENT = {"id": "r1"}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


def message() -> NewMessage:
    return NewMessage(
        step=0, channel=Channel.SMS, instance="sms", to_address="+15005550006", body="hi"
    )


async def create(store: Store, key: str | None) -> tuple[str, bool, list[tuple[str, int]]]:
    made = await store.deliveries.astart(
        tenant="t",
        event="otp",
        recipient=RECIPIENT,
        data={},
        staff=None,
        idempotency_key=key,
        planned=[message()],
        claim=True,
    )
    return made.notification_id, made.created, [(m.id, m.attempt_count) for m in made.claimed]


async def test_concurrent_writes_share_transactions(store: Store) -> None:
    commits = []
    event.listen(store.engine, "commit", lambda connection: commits.append(1))

    results = await asyncio.gather(*(create(store, None) for _ in range(50)))

    assert all(created and len(claimed) == 1 for _, created, claimed in results)
    assert len(commits) < 10  # 50 notifications, a handful of transactions
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM attempts")).scalar() == 50


async def test_an_idempotency_conflict_fails_only_its_own_write(store: Store) -> None:
    results = await asyncio.gather(
        *(create(store, "same-key") for _ in range(10)), create(store, None)
    )

    keyed = results[:10]
    assert sum(created for _, created, _ in keyed) == 1
    assert len({notification_id for notification_id, _, _ in keyed}) == 1  # all point at one
    assert results[10][1] is True  # the unkeyed write in the same batch still committed
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM notifications")).scalar() == 2


async def test_when_a_batch_fails_as_a_whole_each_write_is_retried_on_its_own(store: Store) -> None:
    """A write that breaks the batch transaction (here: an unflagged unique conflict, as a
    deadlock with another worker would on PostgreSQL) fails alone; the others commit."""
    from relaykit.store.tables import callback_receipts

    def receipt(key: str):  # type: ignore[no-untyped-def]
        return lambda connection: connection.execute(
            callback_receipts.insert().values(dedupe_key=key, received_at=datetime.now(UTC))
        )

    await store.deliveries.group.run(receipt("taken"))
    results = await asyncio.gather(
        store.deliveries.group.run(receipt("a")),
        store.deliveries.group.run(receipt("taken")),
        store.deliveries.group.run(receipt("b")),
        return_exceptions=True,
    )

    assert [isinstance(r, Exception) for r in results] == [False, True, False]
    with store.engine.connect() as connection:
        keys = connection.execute(text("SELECT dedupe_key FROM callback_receipts")).scalars()
        assert sorted(keys) == ["a", "b", "taken"]


async def test_a_write_waiting_on_a_lock_does_not_stall_the_event_loop(
    store: Store, database_url: str
) -> None:
    """Another connection holds the lock the write needs (SQLite: the write lock;
    PostgreSQL: the table). Only a coroutine running on the same loop releases it, after
    counting 50 turns of the loop: the write can commit only if the loop kept running while
    it waited. (Run on the loop, the write would block it until the busy timeout and fail.)"""
    from relaykit.store.tables import callback_receipts

    blocker = store.engine.connect()
    blocker.begin()  # on SQLite, BEGIN IMMEDIATE: the write lock
    if not database_url.startswith("sqlite"):
        blocker.execute(text("LOCK TABLE callback_receipts IN ACCESS EXCLUSIVE MODE"))
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while turns < 50:
            turns += 1
            await asyncio.sleep(0)
        blocker.rollback()

    def receipt(connection: Any) -> int:
        connection.execute(
            callback_receipts.insert().values(dedupe_key="k", received_at=datetime.now(UTC))
        )
        return turns  # the loop's progress when the lock was granted

    try:
        turns_when_written, _ = await asyncio.gather(
            store.deliveries.group.run(receipt), other_work()
        )
    finally:
        blocker.close()

    assert turns_when_written == 50
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT dedupe_key FROM callback_receipts")).scalar() == "k"


async def test_writes_queued_while_a_batch_commits_form_the_next_batch(store: Store) -> None:
    """One batch in flight at a time: 200 writes, each issued after the previous batch's
    writes were queued, still commit in a few transactions, not 200."""
    commits = []
    event.listen(store.engine, "commit", lambda connection: commits.append(1))

    async def burst() -> None:
        for _ in range(40):
            await create(store, None)

    await asyncio.gather(*(burst() for _ in range(5)))

    assert len(commits) <= 100  # 200 writes, at most one commit per two
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM attempts")).scalar() == 200


async def test_an_in_memory_sqlite_store_sees_its_own_group_committed_writes() -> None:
    """SQLAlchemy keeps an in-memory SQLite database per thread: its writes stay on the loop."""
    memory = Store.open("sqlite://")
    try:
        made = await create(memory, None)
        assert memory.deliveries.get(made[0]) is not None
    finally:
        memory.close()
