"""The shape of the worker path: a batch is sent once each and counted, and a final failure
moves on in the transaction that records it (claims: ``test_claims``).

Not timed: counted with SQLAlchemy engine events on the real stack (the Twilio
sandbox, the SDK, a SQLite file), as in ``test_notify_shape``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, Stack, phone, student

EVENT = "attendance_absence"
#: a sandbox number Twilio refuses at create with 21614 (not a mobile number): permanent
REFUSED = "+15005550009"


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement run on ``engine`` meanwhile (``BEGIN IMMEDIATE`` opens a write)."""
    statements: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(" ".join(sql.split()).upper())

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)


def transactions(statements: list[str]) -> list[list[str]]:
    """The write transactions among ``statements``, each as its statements."""
    found: list[list[str]] = []
    current: list[str] | None = None
    for statement in statements:
        if statement.startswith("BEGIN"):
            current = [] if statement.startswith("BEGIN IMMEDIATE") else None
            if current is not None:
                found.append(current)
        elif statement.startswith(("COMMIT", "ROLLBACK")):
            current = None
        elif current is not None:
            current.append(statement)
    return found


async def queued(stack: Stack, count: int, number: str = "+15005550010") -> list[str]:
    """``count`` notifications committed for the worker; their SMS message ids."""
    person = student(phone(number, verified="2025-01-01"))
    records = [await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA) for _ in range(count)]
    return [r.messages[0].id for r in records]


async def test_a_batch_is_sent_once_each_and_counted_for_progress(make_stack: MakeStack) -> None:
    stack = await make_stack(inline=False)
    ids = await queued(stack, 20)

    result = await stack.relay.unit.run(await stack.relay.unit.claim_due(100))

    assert (len(result), result.accepted, result.retrying, result.moved_on) == (20, 20, 0, 0)
    assert sorted(r.message_id for r in result.results) == sorted(ids)
    assert len(stack.sandbox.messages) == 20


async def test_a_permanent_failure_moves_on_in_the_transaction_that_records_it(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(inline=False)
    record = await stack.relay.anotify(TENANT, EVENT, student(phone(REFUSED)), SCHOOL_DATA)
    claimed = await stack.relay.unit.claim_due(10)

    with counted(stack.relay.store.engine) as statements:
        result = await stack.relay.unit.run(claimed)

    after = stack.relay.delivery(record.id)
    assert after is not None
    sms, email = after.messages
    assert result.moved_on == 1 and result.next_messages == [email.id]
    assert (sms.status, sms.fallback_reason) == ("failed", "provider_error")
    assert email.status == "pending"
    outcome = [t for t in transactions(statements) if any("ATTEMPTS" in s for s in t)]
    assert len(outcome) == 1, statements  # not the rate limiter's lease: its own
    assert any(s.startswith("INSERT INTO MESSAGES") for s in outcome[0])  # the email
