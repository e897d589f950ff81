"""The broadcasts store on SQLite and PostgreSQL: open or resume by key, batch inserts, counts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import IntegrityError

from relaykit.results import Channel
from relaykit.store import NewMessage, Store
from relaykit.store.broadcasts import BroadcastKeyReusedError, progress_row, recipient_key
from relaykit.store.outbox import NewNotification
from relaykit.store.states import LocalStatus


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


def planned(skip_sms: bool = False) -> list[NewMessage]:
    email = NewMessage(
        step=1, channel=Channel.EMAIL, instance="mail", to_address="a@example.org", body="Hi"
    )
    if not skip_sms:
        sms = NewMessage(
            step=0, channel=Channel.SMS, instance="sms", to_address="+15005550010", body="Hi"
        )
        return [sms]
    skipped = NewMessage(
        step=0,
        channel=Channel.SMS,
        instance="sms",
        to_address="",
        body="",
        status=LocalStatus.SKIPPED,
        fallback_reason="no_number",
    )
    return [skipped, email]


def new(broadcast_id: str, person: str, skip_sms: bool = False) -> NewNotification:
    return NewNotification(
        "t",
        "alert",
        {"id": person},
        {},
        recipient_key("k", person),
        planned(skip_sms),
        broadcast_id,
    )


def test_the_same_key_resumes_and_another_event_or_data_is_refused(store: Store) -> None:
    first, made = store.broadcasts.open("t", "alert", "k", {"a": 1})
    again, made_again = store.broadcasts.open("t", "alert", "k", {"a": 1})
    assert made and not made_again and again.id == first.id
    with pytest.raises(BroadcastKeyReusedError, match="new --key"):
        store.broadcasts.open("t", "alert", "k", {"a": 2})
    other, made_other = store.broadcasts.open("u", "alert", "k", {"a": 1})  # keys are per tenant
    assert made_other and other.id != first.id


def test_a_chunk_is_one_batch_and_a_taken_key_writes_none_of_it(store: Store) -> None:
    broadcast, _ = store.broadcasts.open("t", "alert", "k", {})

    async def go() -> None:
        await store.deliveries.astart_many(
            [new(broadcast.id, "a"), new(broadcast.id, "b", skip_sms=True)],
            also=[progress_row(broadcast.id, 2, 0)],
        )
        with pytest.raises(IntegrityError):
            await store.deliveries.astart_many([new(broadcast.id, "c"), new(broadcast.id, "a")])

    asyncio.run(go())
    keys = [recipient_key("k", p) for p in "abc"]
    assert store.broadcasts.existing_keys("t", keys) == set(keys[:2])  # not c: rolled back
    status = store.broadcasts.status(broadcast.id)
    assert status is not None and status.recipients_read == 2
    assert status.by_state == {"pending": 2} and status.fallback_reasons == {"no_number": 1}
    assert status.fallen_back == 1


def test_cancel_withdraws_the_unsent_and_counts_them_failed(store: Store) -> None:
    broadcast, _ = store.broadcasts.open("t", "alert", "k", {})
    asyncio.run(store.deliveries.astart_many([new(broadcast.id, p) for p in "abc"]))
    assert len(store.broadcasts.unsent(broadcast.id)[0]) == 3

    assert store.broadcasts.cancel(broadcast.id) == 3
    status = store.broadcasts.status(broadcast.id)
    assert status is not None and status.state == "cancelled" and status.by_state == {"failed": 3}
    assert store.broadcasts.unsent(broadcast.id) == ([], 0)
    assert store.broadcasts.cancel("nope") is None


def test_opt_outs_are_looked_up_in_bulk_and_preloaded(store: Store) -> None:
    store.optouts.set("t", "sms", ["+15005550011"], opted_out=True, source="STOP")
    numbers = ["+15005550010", "+15005550011"]
    found = store.optouts.among("t", "sms", numbers)
    assert found == {"+15005550011"}
    with store.optouts.preloaded("t", {"sms": (frozenset(numbers), found)}):
        assert store.optouts.opted_out("t", "sms", ["+15005550011"]) == {"+15005550011"}
        store.optouts.set("t", "sms", ["+15005550012"], opted_out=True, source="STOP")
        # not preloaded: asked of the database
        assert store.optouts.opted_out("t", "sms", ["+15005550012"]) == {"+15005550012"}
    assert store.optouts.opted_out("t", "sms", numbers) == {"+15005550011"}


def test_a_long_recipient_key_is_hashed_to_fit() -> None:
    key = recipient_key("k" * 150, "r" * 200)
    assert len(key) <= 200 and key != recipient_key("k" * 150, "r" * 199 + "s")
