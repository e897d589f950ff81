"""Group commit: concurrent writes share transactions, and one write's conflict stays its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

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
