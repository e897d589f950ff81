"""The shape of a broadcast's chunk: its SQL statements do not grow with the chunk's size.

Not timed: counted with SQLAlchemy engine events on a real SQLite file. Queued
mode (``inline = false``), so only the enqueuing is counted: per chunk, the
cancel check, one ``SELECT`` of the keys already made, and one ``executemany``
per table, whether the chunk holds 20 recipients or 200.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import event

from relaykit.delivery.broadcast import BroadcastRun, open_broadcast
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student


async def statements_per_chunk(make_stack: MakeStack, chunk_size: int) -> tuple[float, str]:
    stack = await make_stack(inline=False)
    relay = stack.relay
    people = [
        student(phone(f"+1500555{5000 + n}"), email=f"p{n}@example.org", id=f"s{n}")
        for n in range(chunk_size * 3)
    ]
    broadcast, _ = open_broadcast(relay, TENANT, "attendance_absence", SCHOOL_DATA, "k", None)
    statements: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            statements.append(" ".join(sql.split())[:90])

    engine = relay.store.engine
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        status = await BroadcastRun(relay, broadcast, resumed=False, chunk_size=chunk_size).run(
            people
        )
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    assert status.pending == chunk_size * 3
    kinds = Counter(statements)
    return len(statements) / 3, "\n".join(f"{n} x {sql}" for sql, n in kinds.most_common())


async def test_statements_per_chunk_do_not_grow_with_the_chunk_size(
    make_stack: MakeStack,
) -> None:
    small, small_breakdown = await statements_per_chunk(make_stack, 20)
    large, large_breakdown = await statements_per_chunk(make_stack, 200)

    assert large == small, f"20 per chunk:\n{small_breakdown}\n200 per chunk:\n{large_breakdown}"
    assert small <= 12, small_breakdown
