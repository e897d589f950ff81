"""The shape of one inline SMS ``notify``: how many transactions and SQL statements it runs.

Not timed: counted with SQLAlchemy engine events on the real stack (the Twilio
sandbox, the SDK, a SQLite file), so the write path cannot silently grow back
(issue 11: 9 transactions / 22 statements before, target 3 / 12; now 3 / 10).

The counted notify is a steady-state one: the warm-up before it leased the
sender's block of rate-limit tokens, as a busy sender has; the first send of
each block runs one more transaction (one upsert for the whole block).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import event

from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student

MAX_TRANSACTIONS = 3
MAX_STATEMENTS = 12


async def test_one_inline_sms_notify_runs_at_most_3_transactions_and_12_statements(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    stack.sandbox.callback_delay = 60.0  # no status callback during the count
    person = student(phone("+15005550010", verified="2025-01-01"))
    await stack.relay.anotify(TENANT, "attendance_absence", person, SCHOOL_DATA)  # warm up
    engine = stack.relay.store.engine
    statements: list[str] = []
    transactions: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(" ".join(sql.split())[:110])

    def on_begin(_conn: Any) -> None:
        transactions.append("begin")

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "begin", on_begin)
    try:
        record = await stack.relay.anotify(TENANT, "attendance_absence", person, SCHOOL_DATA)
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "begin", on_begin)

    assert record.state == "sent" and len(stack.sandbox.messages) == 2
    kinds = Counter(sql.split()[0].upper() for sql in statements)
    breakdown = (
        f"{len(transactions)} transactions, {len(statements)} statements ({dict(kinds)}):\n"
        + "\n".join(statements)
    )
    assert len(transactions) <= MAX_TRANSACTIONS, breakdown
    assert len(statements) <= MAX_STATEMENTS, breakdown
    print(breakdown)
