"""The hot statements' fast path sends the database what SQLAlchemy would, on both databases.

Each statement is run twice on a real store, rolled back in between: once through
``connection.execute`` and once through :mod:`relaykit.store._compiled`, with the
SQL and parameters the driver received captured by SQLAlchemy's cursor events.
The two must be equal (same text, same bound values after type processing: UTC
datetimes, serialised JSON), and what the fast path wrote must read back as the
values a user passed in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, event, select, update
from sqlalchemy.exc import IntegrityError

from relaykit.store import Store, _compiled
from relaykit.store._sql import UtcDateTime
from relaykit.store._statements import (
    ACCEPTED,
    CLOSE_ATTEMPT,
    COUNT_USAGE,
    INSERT_ATTEMPT,
    INSERT_MESSAGE,
    INSERT_NOTIFICATION,
    INSERT_STATUS,
    MARK_NOTIFICATION,
)
from relaykit.store.states import CLAIMABLE, LocalStatus
from relaykit.store.tables import messages, notifications, usage_counters

#: a one-message claim: an UPDATE ... RETURNING with an IN list and bound parameters
CLAIM = (
    update(messages)
    .where(messages.c.id == bindparam("m_id"), messages.c.status.in_(CLAIMABLE))
    .values(
        attempt_count=messages.c.attempt_count + 1,
        status=LocalStatus.SUBMITTING,
        updated_at=bindparam("now"),
    )
    .returning(messages.c.attempt_count)
)

#: 09:30 at UTC+14: stored and compared as 19:30 UTC the day before (PITFALLS 32)
KIRITIMATI = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=14)))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


def notification(notification_id: str = "n1") -> dict[str, Any]:
    return {
        "id": notification_id,
        "tenant": "north-high",
        "event": "key_is_ready",
        "recipient_id": "s-1",
        "recipient": {"id": "s-1", "name": "Zoë", "tags": [1, 2]},
        "data": {"room": "B12"},
        "staff_user": None,
        "staff": None,
        "idempotency_key": None,
        "state": "pending",
        "channel": "sms",
        "created_at": KIRITIMATI,
        "updated_at": KIRITIMATI,
    }


def message(message_id: str = "m1", status: str = "pending") -> dict[str, Any]:
    return {
        "id": message_id,
        "notification_id": "n1",
        "step": 0,
        "tenant": "north-high",
        "channel": "sms",
        "instance": "sms",
        "to_address": "+15005550006",
        "sender": None,
        "subject": None,
        "body": "Your key is ready",
        "html_body": None,
        "status": status,
        "attempt_count": 0,
        "segments": 1,
        "encoding": "GSM-7",
        "fallback_reason": None,
        "error_message": None,
        "deadline_at": None,
        "next_attempt_at": KIRITIMATI,
        "created_at": KIRITIMATI,
        "updated_at": KIRITIMATI,
    }


def sent_to_driver(connection: Connection, run: Any) -> list[tuple[str, Any]]:
    """The (SQL, parameters) pairs the driver got while ``run()`` ran, in a rolled-back
    savepoint of ``connection``'s transaction."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        seen.append((sql, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    savepoint = connection.begin_nested()
    try:
        run()
    finally:
        event.remove(connection, "before_cursor_execute", capture)
        savepoint.rollback()
    return [(sql, p) for sql, p in seen if not sql.upper().startswith(("SAVEPOINT", "RELEASE"))]


def same_as_sqlalchemy(connection: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    assert _compiled.compiled(statement, connection.dialect, rows[0]) is not None  # not a fallback
    by_sqlalchemy = sent_to_driver(
        connection, lambda: connection.execute(statement, rows if len(rows) > 1 else rows[0])
    )
    by_fast_path = sent_to_driver(
        connection, lambda: _compiled.executemany(connection, statement, rows)
    )
    assert _normalised(by_fast_path) == _normalised(by_sqlalchemy)


def _normalised(sent: list[tuple[str, Any]]) -> list[tuple[str, list[Any]]]:
    """SQLAlchemy passes one row as a list of one for executemany; JSON as the driver's
    wrapper on psycopg (compared by its value)."""
    out = []
    for sql, parameters in sent:
        rows = parameters if isinstance(parameters, list) else [parameters]
        out.append((sql, [_plain(row) for row in rows]))
    return out


def _plain(row: Any) -> Any:
    def value(v: Any) -> Any:
        return getattr(v, "obj", v)  # psycopg's Json(obj)

    if isinstance(row, dict):
        return {k: value(v) for k, v in row.items()}
    return tuple(value(v) for v in row)


def test_inserts_bind_exactly_what_sqlalchemy_binds(store: Store) -> None:
    with store.engine.begin() as connection:
        same_as_sqlalchemy(connection, INSERT_NOTIFICATION, [notification()])
        connection.execute(INSERT_NOTIFICATION, notification())
        same_as_sqlalchemy(connection, INSERT_MESSAGE, [message("m1"), message("m2")])
        connection.execute(INSERT_MESSAGE, message())
        attempt = {"message_id": "m1", "number": 1, "state": "in_flight", "started_at": KIRITIMATI}
        same_as_sqlalchemy(connection, INSERT_ATTEMPT, [attempt])
        status = {
            "message_id": "m1",
            "status": "pending",
            "source": "relaykit",
            "error_code": None,
            "detail": None,
            "applied": True,
            "recorded_at": KIRITIMATI,
        }
        same_as_sqlalchemy(connection, INSERT_STATUS, [status, {**status, "applied": False}])
        usage = {"tenant": "north-high", "month": "2026-03", "channel": "sms"}
        same_as_sqlalchemy(connection, COUNT_USAGE(connection), [usage])


def test_updates_with_constants_bind_exactly_what_sqlalchemy_binds(store: Store) -> None:
    """``IN`` over fixed statuses, ``CASE``, a literal ``None``: constants the fast path binds."""
    with store.engine.begin() as connection:
        connection.execute(INSERT_NOTIFICATION, notification())
        connection.execute(INSERT_MESSAGE, message())
        connection.execute(
            INSERT_ATTEMPT,
            {"message_id": "m1", "number": 1, "state": "in_flight", "started_at": KIRITIMATI},
        )
        accepted = {
            "m_id": "m1",
            "pid": "SM1",
            "to": "+15005550006",
            "seg": 1,
            "enc": "GSM-7",
            "now": KIRITIMATI,
            "st": "queued",
        }
        same_as_sqlalchemy(connection, ACCEPTED, [accepted])
        same_as_sqlalchemy(connection, CLAIM, [{"m_id": "m1", "now": KIRITIMATI}])
        close = {"m_id": "m1", "n": 1, "st": "succeeded", "now": KIRITIMATI}
        same_as_sqlalchemy(connection, CLOSE_ATTEMPT, [close])
        mark = {"n_id": "n1", "state": "sent", "ch": "sms", "now": KIRITIMATI}
        same_as_sqlalchemy(connection, MARK_NOTIFICATION, [mark])


def test_what_the_fast_path_writes_reads_back_as_written(store: Store) -> None:
    with store.engine.begin() as connection:
        _compiled.executemany(connection, INSERT_NOTIFICATION, [notification()])
        _compiled.executemany(connection, INSERT_MESSAGE, [message("m1"), message("m2")])
        usage = {"tenant": "north-high", "month": "2026-03", "channel": "sms"}
        for _ in range(3):
            _compiled.executemany(connection, COUNT_USAGE(connection), [usage])
    with store.engine.connect() as connection:
        row = connection.execute(select(notifications)).one()
        ids = connection.execute(select(messages.c.id).order_by(messages.c.id)).scalars().all()
        count = connection.execute(select(usage_counters.c.count)).scalar_one()
    assert row.recipient == {"id": "s-1", "name": "Zoë", "tags": [1, 2]}
    assert row.created_at == KIRITIMATI and row.created_at.tzinfo == UTC
    assert ids == ["m1", "m2"] and count == 3


def test_a_statement_returns_its_rows_and_sees_the_transaction(store: Store) -> None:
    with store.engine.begin() as connection:
        _compiled.executemany(connection, INSERT_NOTIFICATION, [notification()])
        _compiled.executemany(connection, INSERT_MESSAGE, [message()])
        claimed = _compiled.execute(connection, CLAIM, {"m_id": "m1", "now": KIRITIMATI})
        again = _compiled.execute(
            connection, CLAIM, {"m_id": "m1", "now": KIRITIMATI}
        )  # submitting now: not claimable
    assert claimed == [(1,)] and again == []


def test_a_driver_error_is_raised_as_sqlalchemys(store: Store) -> None:
    """The idempotency conflict path catches SQLAlchemy's IntegrityError, not the driver's."""
    with store.engine.begin() as connection:
        _compiled.executemany(connection, INSERT_NOTIFICATION, [notification()])
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        _compiled.executemany(connection, INSERT_NOTIFICATION, [notification()])


def test_a_statement_it_cannot_bind_exactly_runs_through_sqlalchemy(store: Store) -> None:
    """A value computed per execution (here a callable bind) is SQLAlchemy's to compute."""
    from sqlalchemy import bindparam

    from relaykit.store.tables import callback_receipts

    stamped = callback_receipts.insert().values(
        dedupe_key=bindparam("key"),
        received_at=bindparam("at", callable_=lambda: KIRITIMATI, type_=UtcDateTime()),
    )
    with store.engine.begin() as connection:
        assert _compiled.compiled(stamped, connection.dialect, {"key": "k"}) is None
        _compiled.executemany(connection, stamped, [{"key": "k1"}, {"key": "k2"}])
        assert _compiled.execute(connection, stamped, {"key": "k3"}) == []
    with store.engine.connect() as connection:
        rows = connection.execute(select(callback_receipts).order_by("dedupe_key")).all()
    assert [(r.dedupe_key, r.received_at) for r in rows] == [
        ("k1", KIRITIMATI),
        ("k2", KIRITIMATI),
        ("k3", KIRITIMATI),
    ]
