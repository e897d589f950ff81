"""The outbox: committing notifications and their messages, and claiming them for attempts.

Write order follows the outbox rule: a message is committed ``pending`` with
its notification before any provider call; an attempt is committed
``in_flight`` before the call and its outcome after it (PITFALLS 21: no lock
or transaction is held across the provider call). What an attempt's outcome
writes is :mod:`relaykit.store.outcomes`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from relaykit.store._sql import utcnow
from relaykit.store._statements import (
    CLAIM,
    INSERT_ATTEMPT,
    INSERT_MESSAGE,
    INSERT_NOTIFICATION,
    INSERT_STATUS,
    MARK_REDRIVEN,
)
from relaykit.store.delivery_reads import DeliveryReads
from relaykit.store.group_commit import GroupCommitter, Rows
from relaykit.store.records import Created, MessageRecord, NewMessage, StatusChange, new_id
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

__all__ = ["DeliveryWrites", "Outbox", "message_rows"]


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
        notification_id = new_id()
        planned = list(planned)
        pending = next((m for m in planned if m.status == LocalStatus.PENDING), None)
        state = notification_state(pending.status if pending else LocalStatus.SKIPPED)
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
            "state": state,
            "channel": pending.channel.value if pending else None,
        }

        now = utcnow()
        notification = {**row, "created_at": now, "updated_at": now}
        rows: list[tuple[Any, dict[str, Any]]] = [(INSERT_NOTIFICATION, notification)]
        records = []
        for message in planned:
            claimed = claim and message.status == LocalStatus.PENDING
            record, its_rows = message_rows(tenant, notification_id, message, now, claimed)
            records.append(record)
            rows += its_rows
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
        with self.engine.begin() as connection:
            return self._claim(connection, message_id, utcnow())

    def claim_due(self, limit: int, now: datetime | None = None) -> list[tuple[str, int]]:
        """Claim up to ``limit`` messages whose next attempt is due, oldest first.

        On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED``
        (PITFALLS 20), so concurrent workers never claim one message twice; on
        SQLite the ``BEGIN IMMEDIATE`` transaction serialises claims.
        """
        now = now or utcnow()
        query = (
            select(messages.c.id)
            .where(
                and_(
                    messages.c.status.in_(CLAIMABLE),
                    messages.c.next_attempt_at <= now,
                )
            )
            .order_by(messages.c.next_attempt_at)
            .limit(limit)
        )
        claimed = []
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            for row in connection.execute(query).all():
                number = self._claim(connection, row.id, now)
                if number is not None:
                    claimed.append((row.id, number))
        return claimed

    def _claim(self, connection: Any, message_id: str, now: datetime) -> int | None:
        number = connection.execute(CLAIM, {"m_id": message_id, "now": now}).scalar_one_or_none()
        if number is None:
            return None
        connection.execute(
            INSERT_ATTEMPT,
            {
                "message_id": message_id,
                "number": number,
                "state": AttemptState.IN_FLIGHT,
                "started_at": now,
            },
        )
        return int(number)

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
