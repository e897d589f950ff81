"""The outbox: committing notifications and their messages, and claiming them for attempts.

Write order follows the outbox rule: a message is committed ``pending`` with
its notification before any provider call; an attempt is committed
``in_flight`` before the call and its outcome after it (PITFALLS 21: no lock
or transaction is held across the provider call). What an attempt's outcome
writes is :mod:`relaykit.store.outcomes`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import BindParameter

from relaykit.results import Priority
from relaykit.store._sql import utcnow
from relaykit.store._statements import (
    INSERT_ATTEMPT,
    INSERT_MESSAGE,
    INSERT_NOTIFICATION,
    INSERT_STATUS,
    MARK_REDRIVEN,
)
from relaykit.store.delivery_reads import DeliveryReads, _message
from relaykit.store.group_commit import GroupCommitter, Rows, insert_rows
from relaykit.store.records import (
    Claimed,
    Created,
    MessageRecord,
    NewMessage,
    StatusChange,
    new_id,
    template_json,
)
from relaykit.store.states import (
    CLAIMABLE,
    REDRIVABLE,
    AttemptState,
    LocalStatus,
    NotificationState,
    StatusSource,
    notification_state,
)
from relaykit.store.tables import attempts, messages, notifications, status_events

__all__ = ["DeliveryWrites", "NewNotification", "Outbox", "message_rows"]

#: the batch form's notification insert: its rows bind ``broadcast_id`` (``astart``'s do not),
#: and the group committer groups rows by statement
INSERT_NOTIFICATIONS = notifications.insert()


@dataclass(frozen=True)
class NewNotification:
    """A notification to commit with :meth:`Outbox.astart_many`, planned."""

    tenant: str
    event: str
    recipient: Mapping[str, Any]
    data: Mapping[str, Any]
    idempotency_key: str | None
    planned: Sequence[NewMessage]
    broadcast_id: str | None = None


class DeliveryWrites(DeliveryReads):
    """What every delivery writer shares: the engine and the one group committer."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.group = GroupCommitter(engine)


class Outbox(DeliveryWrites):
    """Creating notifications and messages; claiming, deferring, abandoning and re-driving
    their attempts."""

    # -- creating -------------------------------------------------------------------------------

    async def astart(
        self,
        *,
        tenant: str,
        event: str,
        recipient: Mapping[str, Any],
        data: Mapping[str, Any],
        staff: Mapping[str, Any] | None,
        idempotency_key: str | None,
        planned: Iterable[NewMessage],
        claim: bool = False,
    ) -> Created:
        """Commit a notification with its first message(s), group-committed with other writes;
        returns what was committed as records (no read-back needed).

        With an idempotency key this tenant used before, nothing is written and
        the existing notification is returned with ``created=False``.

        :param claim: also claim the pending message for an attempt, in the same
            transaction (the inline path: create, claim, send): it is inserted
            ``submitting`` with its first attempt in flight.
        """
        now = utcnow()
        notification_id, row, records, rows = notification_rows(
            tenant, event, recipient, data, staff, idempotency_key, list(planned), now, claim=claim
        )
        rows.insert(0, (INSERT_NOTIFICATION, row))
        state = row["state"]
        write = Rows(rows, now)
        if idempotency_key is None:  # nothing can conflict: batched with others' inserts
            await self.group.run(write)
        else:
            try:
                await self.group.run(write, may_fail=True)
            except IntegrityError:
                return Created(self._existing(tenant, idempotency_key), False)
        return Created(
            notification_id,
            True,
            state=state,
            created_at=now,
            messages=tuple(records),
            claimed=tuple(r for r in records if r.status == LocalStatus.SUBMITTING),
        )

    async def astart_many(
        self,
        new: Sequence[NewNotification],
        *,
        also: Sequence[tuple[Any, dict[str, Any]]] = (),
    ) -> list[Created]:
        """Commit many notifications with their first messages (``pending``, unclaimed) in one
        group-committed transaction, one ``executemany`` per table, together with the
        statements ``also`` (a broadcast's progress); returns what was committed.

        :raises IntegrityError: an idempotency key is taken; nothing of the batch was written.
        """
        now = utcnow()
        rows: list[tuple[Any, dict[str, Any]]] = []
        made: list[Created] = []
        for item in new:
            notification_id, row, records, its_rows = notification_rows(
                item.tenant,
                item.event,
                item.recipient,
                item.data,
                None,
                item.idempotency_key,
                item.planned,
                now,
                claim=False,
            )
            rows.append((INSERT_NOTIFICATIONS, {**row, "broadcast_id": item.broadcast_id}))
            rows += its_rows
            made.append(Created(notification_id, True, row["state"], now, tuple(records)))
        rows += also
        batch = [Rows(rows, None)]
        # one executemany per statement, whatever the batch's size; in a savepoint of its own
        # when grouped with others' writes, so a taken key fails this batch only
        await self.group.run(lambda connection: insert_rows(connection, batch), may_fail=True)
        return made

    def _existing(self, tenant: str, idempotency_key: str | None) -> str:
        """The notification already holding ``idempotency_key`` (after a unique-key conflict)."""
        existing = self.find_by_key(tenant, idempotency_key) if idempotency_key else None
        if existing is None:
            raise RuntimeError("a notification insert conflicted, but not on its idempotency key")
        return existing

    # -- attempts -------------------------------------------------------------------------------
    def claim(self, message_id: str) -> int | None:
        """Commit an in-flight attempt for a message that is due to be sent.

        Safe to call twice or from two workers: only a ``pending`` or
        ``retrying`` message is claimed, atomically.

        :returns: the attempt number, or ``None`` when the message is not claimable.
        """
        claimed = self.claim_ids([message_id])
        return claimed[0].attempt if claimed else None

    def claim_ids(self, message_ids: Sequence[str]) -> list[Claimed]:
        """Claim those of ``message_ids`` that are ``pending`` or ``retrying``, due or not
        (the inline path: a fallback's next messages, a retry it waited for), in one
        ``UPDATE … RETURNING`` and one ``executemany`` of attempts."""
        if not message_ids:
            return []
        with self.engine.begin() as connection:
            claim = _claim(connection, CLAIM_IDS, {"ids": list(message_ids)}, utcnow())
            return claim.commit_now(connection)

    async def aclaim_ids(self, message_ids: Sequence[str]) -> list[Claimed]:
        """:meth:`claim_ids` through the group committer, with concurrent writes."""
        if not message_ids:
            return []
        ids = list(message_ids)
        return await self.group.run_then(
            lambda connection: _claim(connection, CLAIM_IDS, {"ids": ids}, utcnow())
        )

    def claim_due(self, limit: int, now: datetime | None = None) -> list[Claimed]:
        """Claim up to ``limit`` messages whose next attempt is due, oldest first: one
        ``UPDATE … RETURNING`` of the oldest ``limit`` and one ``executemany`` of attempts,
        whatever ``limit`` is.

        On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED``
        (PITFALLS 20), so concurrent workers never claim one message twice; on
        SQLite the ``BEGIN IMMEDIATE`` transaction serialises claims.

        :returns: the claimed messages as the claim left them, so nothing is read back.
        """
        if limit <= 0:
            return []
        now = now or utcnow()
        with self.engine.begin() as connection:
            claim = _claim(connection, _due_statement(connection), {"n": limit}, now)
            return claim.commit_now(connection)

    async def aclaim_due(self, limit: int, now: datetime | None = None) -> list[Claimed]:
        """:meth:`claim_due` through the group committer (``relaykit worker``, ``serve``):
        the claim shares its transaction with concurrent outcomes, and its attempts are
        inserted with theirs."""
        if limit <= 0:
            return []
        at = now or utcnow()
        return await self.group.run_then(
            lambda connection: _claim(connection, _due_statement(connection), {"n": limit}, at)
        )

    def abandon(self, message_id: str, attempt: int, *, retry_at: datetime) -> bool:
        """Give up on a dead in-flight attempt and make its message due again at ``retry_at``."""
        now = utcnow()
        with self.engine.begin() as connection:
            closed = connection.execute(
                update(attempts)
                .where(
                    and_(
                        attempts.c.message_id == message_id,
                        attempts.c.number == attempt,
                        attempts.c.state == AttemptState.IN_FLIGHT,
                    )
                )
                .values(state=AttemptState.ABANDONED, finished_at=now)
            ).rowcount
            if not closed:
                return False
            connection.execute(
                update(messages)
                .where(
                    and_(messages.c.id == message_id, messages.c.status == LocalStatus.SUBMITTING)
                )
                .values(status=LocalStatus.RETRYING, next_attempt_at=retry_at, updated_at=now)
            )
            connection.execute(
                status_events.insert().values(
                    message_id=message_id,
                    status=LocalStatus.RETRYING,
                    source=StatusSource.RECOVERY,
                    detail=f"attempt {attempt} was in flight when its worker stopped",
                    applied=True,
                    recorded_at=now,
                )
            )
        return True

    async def adefer(self, message_id: str, attempt: int, *, retry_at: datetime) -> None:
        """Take back a claim whose provider call never happened (the sender's rate held it).

        The attempt is deleted and the message is due again at ``retry_at`` in the
        status it was claimed from: a wait in line uses up none of its retries.
        """
        await self.group.run(
            lambda connection: self._defer(connection, message_id, attempt, retry_at)
        )

    def _defer(
        self, connection: Connection, message_id: str, attempt: int, retry_at: datetime
    ) -> None:
        connection.execute(
            delete(attempts).where(
                and_(
                    attempts.c.message_id == message_id,
                    attempts.c.number == attempt,
                    attempts.c.state == AttemptState.IN_FLIGHT,
                )
            )
        )
        connection.execute(
            update(messages)
            .where(and_(messages.c.id == message_id, messages.c.status == LocalStatus.SUBMITTING))
            .values(
                status=LocalStatus.PENDING if attempt == 1 else LocalStatus.RETRYING,
                attempt_count=attempt - 1,
                next_attempt_at=retry_at,
                updated_at=utcnow(),
            )
        )

    def redrive(self, message_id: str) -> bool:
        """Make a failed message of a failed notification due again now, with a fresh retry
        budget (an operator's ``messages retry``); False when it is not such a message.

        Only when every channel of the notification is exhausted: re-driving a
        message whose notification went on by another channel would send twice.
        """
        now = utcnow()
        with self.engine.begin() as connection:
            row = connection.execute(
                update(messages)
                .where(
                    and_(
                        messages.c.id == message_id,
                        messages.c.status.in_(REDRIVABLE),
                        messages.c.notification_id.in_(
                            select(notifications.c.id).where(
                                notifications.c.state == NotificationState.FAILED
                            )
                        ),
                    )
                )
                .values(
                    status=LocalStatus.RETRYING,
                    next_attempt_at=now,
                    fallback_reason=None,
                    failing_since=None,
                    updated_at=now,
                )
                .returning(messages.c.notification_id, messages.c.channel)
            ).one_or_none()
            if row is None:
                return False
            connection.execute(
                MARK_REDRIVEN, {"n_id": row.notification_id, "ch": row.channel, "now": now}
            )
            connection.execute(
                INSERT_STATUS,
                {
                    "message_id": message_id,
                    "status": LocalStatus.RETRYING,
                    "source": StatusSource.OPERATOR,
                    "error_code": None,
                    "detail": "re-driven by an operator",
                    "applied": True,
                    "recorded_at": now,
                },
            )
        return True


def notification_rows(
    tenant: str,
    event: str,
    recipient: Mapping[str, Any],
    data: Mapping[str, Any],
    staff: Mapping[str, Any] | None,
    idempotency_key: str | None,
    planned: Sequence[NewMessage],
    now: datetime,
    *,
    claim: bool,
) -> tuple[str, dict[str, Any], list[MessageRecord], list[tuple[Any, dict[str, Any]]]]:
    """A new notification's row, and its messages' records and rows: its id, the
    notification row (no statement: :meth:`Outbox.astart` and :meth:`Outbox.astart_many`
    insert it with their own), the message records, the messages' statements and rows.

    :param claim: the pending message is inserted claimed (``submitting``, its attempt in
        flight).
    """
    notification_id = new_id()
    pending = next((m for m in planned if m.status == LocalStatus.PENDING), None)
    row = {
        "id": notification_id,
        "tenant": tenant,
        "event": event,
        "recipient_id": str(recipient["id"]),
        "recipient": dict(recipient),
        "data": dict(data),
        "staff_user": staff["id"] if staff else None,
        "staff": dict(staff) if staff else None,
        "idempotency_key": idempotency_key,
        "state": notification_state(pending.status if pending else LocalStatus.SKIPPED),
        "channel": pending.channel.value if pending else None,
        "created_at": now,
        "updated_at": now,
    }
    records: list[MessageRecord] = []
    rows: list[tuple[Any, dict[str, Any]]] = []
    for message in planned:
        claimed = claim and message.status == LocalStatus.PENDING
        record, its_rows = message_rows(tenant, notification_id, message, now, claimed)
        records.append(record)
        rows += its_rows
    return notification_id, row, records, rows


def message_rows(
    tenant: str, notification_id: str, message: NewMessage, now: datetime, claimed: bool
) -> tuple[MessageRecord, list[tuple[Any, dict[str, Any]]]]:
    """A planned message's rows (``claimed``: ``submitting``, attempt 1 in flight) and its
    record as they commit it."""
    message_id = new_id()
    status = LocalStatus.SUBMITTING if claimed else message.status
    rows: list[tuple[Any, dict[str, Any]]] = [
        (
            INSERT_MESSAGE,
            {
                "id": message_id,
                "notification_id": notification_id,
                "step": message.step,
                "tenant": tenant,
                "channel": message.channel.value,
                "instance": message.instance,
                "to_address": message.to_address,
                "sender": message.sender,
                "subject": message.subject,
                "body": message.body,
                "html_body": message.html_body,
                "status": status,
                "attempt_count": 1 if claimed else 0,
                "segments": message.segments,
                "encoding": message.encoding,
                "fallback_reason": message.fallback_reason,
                "error_message": message.error_message,
                "deadline_at": message.deadline_at,
                "provider_template": template_json(message.template),
                "priority": message.priority.rank,
                "validity_period": message.validity_period,
                "next_attempt_at": now if message.status == LocalStatus.PENDING else None,
                "created_at": now,
                "updated_at": now,
            },
        ),
        (
            INSERT_STATUS,
            {
                "message_id": message_id,
                "status": message.status,
                "source": StatusSource.RELAYKIT,
                "error_code": None,
                "detail": message.fallback_reason,
                "applied": True,
                "recorded_at": now,
            },
        ),
    ]
    if claimed:
        rows.append(
            (
                INSERT_ATTEMPT,
                {
                    "message_id": message_id,
                    "number": 1,
                    "state": AttemptState.IN_FLIGHT,
                    "started_at": now,
                },
            )
        )
    record = MessageRecord(
        id=message_id,
        notification_id=notification_id,
        tenant=tenant,
        step=message.step,
        channel=message.channel,
        instance=message.instance,
        to_address=message.to_address,
        sender=message.sender,
        subject=message.subject,
        body=message.body,
        html_body=message.html_body,
        status=status,
        provider_message_id=None,
        segments=message.segments,
        encoding=message.encoding,
        error_code=None,
        error_message=message.error_message,
        fallback_reason=message.fallback_reason,
        attempt_count=1 if claimed else 0,
        created_at=now,
        updated_at=now,
        template=message.template,
        priority=message.priority,
        validity_period=message.validity_period,
        timeline=(
            StatusChange(
                status=message.status,
                source=StatusSource.RELAYKIT,
                recorded_at=now,
                applied=True,
                detail=message.fallback_reason,
            ),
        ),
    )
    return record, rows


class _Claim(Rows[list[Claimed]]):
    """The attempts a claim inserts, as rows (grouped by the group committer), and the
    claimed messages once they are committed."""

    def commit_now(self, connection: Connection) -> list[Claimed]:
        """Insert the attempts on ``connection`` with one ``executemany``; the claimed."""
        if self.rows:
            connection.execute(INSERT_ATTEMPT, [parameters for _, parameters in self.rows])
        return self.result


def _due(postgresql: bool) -> ColumnElement[bool]:
    """Which messages a due claim takes: up to ``:n`` due at ``:now``, higher priority first
    (an OTP ahead of a broadcast's backlog), then oldest first; locked, skipping locked
    ones, on PostgreSQL."""
    now: BindParameter[datetime] = bindparam("now")
    limit: BindParameter[int] = bindparam("n")
    if postgresql:
        # A materialised CTE: the locking SELECT runs once, whatever plan the UPDATE gets.
        due = (
            select(messages.c.id)
            .where(messages.c.status.in_(CLAIMABLE), messages.c.next_attempt_at <= now)
            .order_by(messages.c.priority.desc(), messages.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
            .prefix_with("MATERIALIZED")
        )
        return messages.c.id == due.c.id
    # SQLite reads the (status, priority, next_attempt_at) index in order for one status and
    # one priority only: for ``status IN (…)`` it sorts every due message, per claim. The
    # oldest ``n`` of each status and priority, merged, are the same messages at a cost that
    # does not grow with the backlog.
    oldest = [
        select(messages.c.id, messages.c.priority, messages.c.next_attempt_at)
        .where(
            messages.c.status == status,
            messages.c.priority == rank,
            messages.c.next_attempt_at <= now,
        )
        .order_by(messages.c.next_attempt_at)
        .limit(limit)
        .subquery()
        for status in CLAIMABLE
        for rank in _RANKS
    ]
    merged = union_all(
        *(select(part.c.id, part.c.priority, part.c.next_attempt_at) for part in oldest)
    ).subquery()
    first = select(merged.c.id).order_by(merged.c.priority.desc(), merged.c.next_attempt_at)
    return messages.c.id.in_(first.limit(limit))


#: every priority's rank, most urgent first
_RANKS = sorted({priority.rank for priority in Priority}, reverse=True)


def _due_statement(connection: Connection) -> Any:
    return CLAIM_DUE["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]


def _claiming(chosen: ColumnElement[bool]) -> Any:
    """Claim the ``chosen`` messages that are still claimable, returning them as claimed."""
    return (
        update(messages)
        .where(chosen, messages.c.status.in_(CLAIMABLE))
        .values(
            attempt_count=messages.c.attempt_count + 1,
            status=LocalStatus.SUBMITTING,
            updated_at=bindparam("now"),
        )
        .returning(*messages.c)
    )


#: the claim statements, built once: of given ids (``:ids``), and of due messages per dialect
CLAIM_IDS = _claiming(messages.c.id.in_(bindparam("ids", expanding=True)))
CLAIM_DUE = {name: _claiming(_due(name == "postgresql")) for name in ("sqlite", "postgresql")}


def _claim(
    connection: Connection, statement: Any, parameters: dict[str, Any], now: datetime
) -> _Claim:
    """Run a claim ``statement``: one ``UPDATE … RETURNING`` now; the in-flight attempts
    as rows."""
    rows = connection.execute(statement, {**parameters, "now": now}).all()
    claimed = [Claimed(_message(row, ()), row.attempt_count) for row in rows]
    attempt_rows: list[tuple[Any, dict[str, Any]]] = [
        (
            INSERT_ATTEMPT,
            {
                "message_id": c.message.id,
                "number": c.attempt,
                "state": AttemptState.IN_FLIGHT,
                "started_at": now,
            },
        )
        for c in claimed
    ]
    return _Claim(attempt_rows, claimed)
