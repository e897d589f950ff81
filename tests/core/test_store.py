"""The store on a real SQLite file and a real PostgreSQL: migrations, idempotency, upserts."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from relaykit.results import Channel, MessageStatus
from relaykit.store import AcceptedAttempt, NewMessage, StatusReport, StatusResult, Store
from relaykit.store.engine import create_store_engine
from relaykit.store.tables import metadata, usage_counters

RECIPIENT = {"id": "s-1", "kind": "student", "name": "Ada"}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """The store on SQLite and on PostgreSQL: every test here runs on both."""
    opened = Store.open(database_url)
    yield opened
    opened.close()


def sms(step: int = 0, **overrides: object) -> NewMessage:
    values: dict[str, object] = {
        "step": step,
        "channel": Channel.SMS,
        "instance": "sms",
        "to_address": "+15005550006",
        "body": "Your key is ready",
    }
    values.update(overrides)
    return NewMessage(**values)  # type: ignore[arg-type]


async def create(
    store: Store, key: str | None = None, message: NewMessage | None = None
) -> tuple[str, bool]:
    made = await store.deliveries.astart(
        tenant="north-high",
        event="key_is_ready",
        recipient=RECIPIENT,
        data={},
        staff=None,
        idempotency_key=key,
        planned=[message or sms()],
    )
    return made.notification_id, made.created


async def sent_message(store: Store, provider_id: str = "SM1") -> str:
    notification_id, _ = await create(store)
    message = store.deliveries.get(notification_id).messages[0]  # type: ignore[union-attr]
    attempt = store.deliveries.claim(message.id)
    assert attempt is not None
    await store.deliveries.afinish_sent(
        AcceptedAttempt(
            message.id,
            attempt,
            provider_message_id=provider_id,
            status=MessageStatus.QUEUED,
            to_address="+15005550006",
            segments=1,
            encoding="GSM-7",
        )
    )
    return message.id


def test_migrations_create_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'wal.db'}")
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


async def test_same_idempotency_key_returns_the_first_notification(store: Store) -> None:
    first, created = await create(store, key="order-42")
    again, created_again = await create(store, key="order-42")

    assert (created, created_again) == (True, False)
    assert again == first
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM messages")).scalar() == 1


async def status(
    store: Store, status: MessageStatus, sid: str = "SM1", **fields: Any
) -> StatusResult:
    """A provider status for ``sid``, applied as a callback applies it."""
    return await store.statuses.apply(StatusReport("north-high", "sms", sid, status, **fields))


async def test_late_sent_never_overwrites_delivered(store: Store) -> None:
    await sent_message(store)
    await status(store, MessageStatus.DELIVERED)
    result = await status(store, MessageStatus.SENT)

    assert not result.applied
    assert result.message_id is not None and result.current == "delivered"
    history = store.deliveries.message(result.message_id)
    assert history is not None and history.status == "delivered"
    assert [(c.status, c.applied) for c in history.timeline][-2:] == [
        ("delivered", True),
        ("sent", False),
    ]


async def test_failed_after_delivered_is_recorded_not_applied(store: Store) -> None:
    await sent_message(store)
    await status(store, MessageStatus.DELIVERED)
    result = await status(store, MessageStatus.FAILED, error_code="30003")

    assert not result.applied and result.message_id is not None
    message = store.deliveries.message(result.message_id)
    assert message is not None and message.status == "delivered"
    assert message.error_code is None


async def test_delivered_marks_the_notification_delivered(store: Store) -> None:
    message_id = await sent_message(store)
    await status(store, MessageStatus.DELIVERED)
    notification_id, _, _ = store.deliveries.notification_of(message_id)
    assert store.deliveries.get(notification_id).state == "delivered"  # type: ignore[union-attr]


async def test_concurrent_statuses_apply_in_order_and_a_duplicate_once(store: Store) -> None:
    """Callbacks arriving together share one transaction; each keeps its own outcome."""
    message_id = await sent_message(store)
    sent, delivered, duplicate, late, unknown = await asyncio.gather(
        status(store, MessageStatus.SENT, dedupe_key="k-sent"),
        status(store, MessageStatus.DELIVERED, dedupe_key="k-delivered"),
        status(store, MessageStatus.DELIVERED, dedupe_key="k-delivered"),
        status(store, MessageStatus.SENT, dedupe_key="k-sent-late"),
        status(store, MessageStatus.DELIVERED, sid="SM-unknown", dedupe_key="k-unknown"),
    )

    assert (sent.applied, delivered.applied, late.applied) == (True, True, False)
    assert duplicate == unknown == StatusResult(None)
    message = store.deliveries.message(message_id)
    assert message is not None and message.status == "delivered"
    assert [(c.status, c.applied) for c in message.timeline if c.source == "callback"] == [
        ("sent", True),
        ("delivered", True),
        ("sent", False),
    ]
    notification_id, _, _ = store.deliveries.notification_of(message_id)
    assert store.deliveries.get(notification_id).state == "delivered"  # type: ignore[union-attr]


async def test_a_callback_that_outruns_the_send_commit_finds_its_message_by_reference(
    store: Store,
) -> None:
    notification_id, _ = await create(store)
    message = store.deliveries.get(notification_id).messages[0]  # type: ignore[union-attr]

    result = await status(store, MessageStatus.SENT, sid="SM9", reference=message.id)

    assert (result.message_id, result.applied) == (message.id, True)
    after = store.deliveries.message(message.id)
    assert after is not None and (after.provider_message_id, after.status) == ("SM9", "sent")


async def test_a_failure_status_records_its_error(store: Store) -> None:
    message_id = await sent_message(store)
    result = await status(store, MessageStatus.UNDELIVERED, error_code="30003", detail="gone")

    assert result.applied and result.current == "undelivered"
    message = store.deliveries.message(message_id)
    assert message is not None
    assert (message.status, message.error_code, message.error_message) == (
        "undelivered",
        "30003",
        "gone",
    )


def test_callback_dedupe_key_is_accepted_once(store: Store) -> None:
    def stop() -> bool:
        return store.optouts.set(
            "t", "sms", ["+15005550004"], opted_out=True, source="STOP", dedupe_key="idem-token-1"
        )

    assert stop()
    store.optouts.set("t", "sms", ["+15005550004"], opted_out=False, source="START")
    assert not stop()  # the replay changes nothing
    assert store.optouts.opted_out("t", "sms", ["+15005550004"]) == frozenset()


def test_sender_pool_assigns_once_per_staff_user_and_runs_out(store: Store) -> None:
    pool = ["+15005550100", "+15005550101"]
    assert store.senders.assign("t", "ms-jones", pool) == "+15005550100"
    assert store.senders.assign("t", "ms-jones", pool) == "+15005550100"
    assert store.senders.assign("t", "mr-lee", pool) == "+15005550101"
    assert store.senders.assign("t", "dr-who", pool) is None
    assert store.senders.holder("t", "+15005550101").staff_user == "mr-lee"  # type: ignore[union-attr]
    assert store.senders.release("t", staff_user="mr-lee") == 1
    assert store.senders.assign("t", "dr-who", pool) == "+15005550101"


def test_optouts_upsert_and_lookup(store: Store) -> None:
    store.optouts.set("t", "sms", ["+15005550004", "+15005550005"], opted_out=True, source="STOP")
    store.optouts.set("t", "sms", ["+15005550005"], opted_out=False, source="START")
    assert store.optouts.opted_out("t", "sms", ["+15005550004", "+15005550005", "+1500"]) == {
        "+15005550004"
    }


def test_a_stop_written_by_another_process_is_seen_by_the_next_lookup(
    store: Store, database_url: str
) -> None:
    """The lookup's kept connection (SQLite) holds no snapshot between reads: a STOP
    another worker commits applies to the very next message."""
    other_worker = Store.open(database_url)
    try:
        assert store.optouts.opted_out("t", "sms", ["+15005550004"]) == frozenset()
        other_worker.optouts.set("t", "sms", ["+15005550004"], opted_out=True, source="STOP")
        assert store.optouts.opted_out("t", "sms", ["+15005550004"]) == {"+15005550004"}
        other_worker.optouts.set("t", "sms", ["+15005550004"], opted_out=False, source="START")
        assert store.optouts.opted_out("t", "sms", ["+15005550004"]) == frozenset()
    finally:
        other_worker.close()


async def test_async_optout_writes_go_through_the_writer_and_a_replay_changes_nothing(
    store: Store,
) -> None:
    async def stop() -> bool:
        return await store.optouts.aset(
            "t", "sms", ["+15005550004"], opted_out=True, source="STOP", dedupe_key="idem-2"
        )

    assert await stop()
    assert store.optouts.opted_out("t", "sms", ["+15005550004", "+1500"]) == {"+15005550004"}
    await store.optouts.aset("t", "sms", ["+15005550004"], opted_out=False, source="START")
    assert not await stop()  # the replayed STOP changes nothing
    assert store.optouts.opted_out("t", "sms", ["+15005550004"]) == frozenset()


async def test_async_sender_assignment_assigns_once_per_staff_user(store: Store) -> None:
    pool = ["+15005550100", "+15005550101"]
    first, again, other = [
        await store.senders.aassign("t", user, pool) for user in ("ms-jones", "ms-jones", "mr-lee")
    ]
    assert (first, again, other) == ("+15005550100", "+15005550100", "+15005550101")
    assert await store.senders.arelease("t", number="+15005550101") == 1
    assert store.senders.holder("t", "+15005550101") is None


async def test_async_inbound_record_stores_a_replay_once(store: Store) -> None:
    message = {
        "tenant": "t",
        "instance": "sms",
        "provider_message_id": "SM-in-1",
        "channel": "sms",
        "sender": "+15005550006",
        "recipient": "+15005550100",
        "body": "STOP",
        "media_urls": [],
    }
    stored = await store.inbound.arecord("in-1", **message)
    assert stored is not None
    assert await store.inbound.arecord("in-2", **message) is None  # same provider message
    assert [m["id"] for m in store.inbound.messages("t")] == [stored]


def test_template_overrides_set_get_reset(store: Store) -> None:
    store.templates.set("t", "otp", "sms", "Code {{code}}")
    store.templates.set("t", "otp", "sms", "Your code: {{code}}")
    assert store.templates.get("t", "otp", "sms") == "Your code: {{code}}"
    store.templates.reset("t", "otp")
    assert store.templates.get("t", "otp", "sms") is None


def _read_then_write(url: str, start: Any, rounds: int, failures: Any) -> None:
    engine = create_store_engine(url)
    engine.connect().close()
    start.wait()
    failed = 0
    for _ in range(rounds):
        try:
            with engine.begin() as connection:
                current = connection.execute(
                    select(usage_counters.c.count).where(usage_counters.c.tenant == "t")
                ).scalar_one()
                connection.execute(
                    usage_counters.update()
                    .where(usage_counters.c.tenant == "t")
                    .values(count=current + 1)
                )
        except Exception:
            failed += 1
    failures.put(failed)


def test_concurrent_read_then_write_transactions_never_fail_with_database_locked(
    tmp_path: Path,
) -> None:
    """PITFALLS 19 and 22: BEGIN IMMEDIATE makes 4 processes x 500 read→write transactions safe."""
    url = f"sqlite:///{tmp_path / 'locks.db'}"
    store = Store.open(url)
    with store.engine.begin() as connection:
        connection.execute(
            usage_counters.insert().values(tenant="t", month="m", channel="sms", count=0)
        )
    context = multiprocessing.get_context("spawn")
    failures, start = context.Queue(), context.Event()
    workers = [
        context.Process(target=_read_then_write, args=(url, start, 500, failures)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)

    assert sum(failures.get(timeout=5) for _ in workers) == 0
    assert store.usage.count("t", "m", "sms") == 2000  # no lost update either
    store.close()


async def test_a_status_for_a_message_not_yet_known_is_not_marked_seen(store: Store) -> None:
    """The dedupe key is recorded with the status it applies: Twilio's retry still counts."""
    early = await status(store, MessageStatus.DELIVERED, dedupe_key="k-delivered")
    await sent_message(store, "SM1")

    retried = await status(store, MessageStatus.DELIVERED, dedupe_key="k-delivered")
    replayed = await status(store, MessageStatus.DELIVERED, dedupe_key="k-delivered")

    assert early.message_id is None
    assert retried.applied and retried.current == "delivered"
    assert (replayed.message_id, replayed.applied) == (None, False)


def at_offset(instant: datetime, hours: int) -> datetime:
    """The same instant, written at another UTC offset."""
    return instant.astimezone(timezone(timedelta(hours=hours)))


async def test_due_time_query_compares_instants_across_utc_offsets(store: Store) -> None:
    created = datetime.now(UTC)
    await create(store)  # pending, due from its creation on

    early = store.deliveries.claim_due(10, now=at_offset(created - timedelta(hours=1), 14))
    due = store.deliveries.claim_due(10, now=at_offset(created + timedelta(hours=1), -11))

    assert (len(early), len(due)) == (0, 1)


async def test_deadline_query_compares_instants_across_utc_offsets(store: Store) -> None:
    deadline = datetime.now(UTC) + timedelta(minutes=30)
    notification_id, _ = await create(store, message=sms(deadline_at=at_offset(deadline, 14)))
    message = store.deliveries.get(notification_id).messages[0]  # type: ignore[union-attr]

    before = store.deliveries.past_deadline(at_offset(deadline - timedelta(hours=1), 14))
    after = store.deliveries.past_deadline(at_offset(deadline + timedelta(hours=1), -11))

    assert (before, after) == ([], [message.id])


async def test_recovery_sweeps_compare_instants_across_utc_offsets(store: Store) -> None:
    started = datetime.now(UTC)
    await sent_message(store)  # accepted, still "queued" at the provider
    notification_id, _ = await create(store)
    in_flight = store.deliveries.get(notification_id).messages[0]  # type: ignore[union-attr]
    store.deliveries.claim(in_flight.id)
    earlier = at_offset(started - timedelta(hours=1), 14)
    later = at_offset(started + timedelta(hours=1), -11)

    stale = [store.deliveries.stale_attempts(t) for t in (earlier, later)]
    unfinished = [store.deliveries.unfinished(t) for t in (earlier, later)]

    assert [[a[0] for a in found] for found in stale] == [[], [in_flight.id]]
    assert [len(found) for found in unfinished] == [0, 1]
