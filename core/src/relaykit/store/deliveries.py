"""Writing deliveries: notifications, their messages, provider attempts and statuses.

Write order follows the outbox rule: a message is committed ``pending`` with
its notification before any provider call; an attempt is committed
``in_flight`` before the call and its outcome after it (PITFALLS 21: no lock
or transaction is held across the provider call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from relaykit.results import MessageStatus
from relaykit.store._sql import insert, insert_if_absent, utcnow
from relaykit.store._statements import (
    ACCEPTED,
    CLAIM,
    CLAIMABLE,
    CLOSE_ATTEMPT,
    COUNT_USAGE,
    INSERT_ATTEMPT,
    INSERT_MESSAGE,
    INSERT_NOTIFICATION,
    INSERT_STATUS,
    MARK_NOTIFICATION,
    MARK_REDRIVEN,
    REDRIVABLE,
    SUBMITTING,
    notification_state,
)
from relaykit.store.delivery_reads import DeliveryReads
from relaykit.store.group_commit import GroupCommitter, Rows
from relaykit.store.records import (
    Created,
    MessageRecord,
    NewMessage,
    SentOutcome,
    StatusChange,
    new_id,
)
from relaykit.store.tables import (
    attempts,
    callback_receipts,
    messages,
    notifications,
    status_events,
)

__all__ = ["CLAIMABLE", "REDRIVABLE", "SUBMITTING", "Deliveries", "UsageIncrement", "first_time_in"]

UsageIncrement = tuple[str, str, str]  # tenant, month, channel


class Deliveries(DeliveryReads):
    """Writes of notifications, messages, attempts and statuses (reads: :class:`DeliveryReads`)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.group = GroupCommitter(engine)

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
        pending = next((m for m in planned if m.status == "pending"), None)
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
            "state": notification_state(pending.status if pending else "skipped"),
            "channel": pending.channel.value if pending else None,
        }

        now = utcnow()
        notification = {**row, "created_at": now, "updated_at": now}
        rows: list[tuple[Any, dict[str, Any]]] = [(INSERT_NOTIFICATION, notification)]
        records = []
        for message in planned:
            claimed = claim and message.status == "pending"
            record, message_rows = _message_rows(tenant, notification_id, message, now, claimed)
            records.append(record)
            rows += message_rows
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
            state=str(row["state"]),
            created_at=now,
            messages=tuple(records),
            claimed=tuple(r for r in records if r.status == SUBMITTING),
        )

    def _existing(self, tenant: str, idempotency_key: str | None) -> str:
        """The notification already holding ``idempotency_key`` (after a unique-key conflict)."""
        existing = self.find_by_key(tenant, idempotency_key) if idempotency_key else None
        if existing is None:
            raise RuntimeError("a notification insert conflicted, but not on its idempotency key")
        return existing

    def _insert_message(
        self, connection: Any, tenant: str, notification_id: str, message: NewMessage, now: datetime
    ) -> MessageRecord:
        record, rows = _message_rows(tenant, notification_id, message, now, False)
        for statement, parameters in rows:
            connection.execute(statement, parameters)
        return record

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
            {"message_id": message_id, "number": number, "state": "in_flight", "started_at": now},
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
                        attempts.c.state == "in_flight",
                    )
                )
                .values(state="abandoned", finished_at=now)
            ).rowcount
            if not closed:
                return False
            connection.execute(
                update(messages)
                .where(and_(messages.c.id == message_id, messages.c.status == SUBMITTING))
                .values(status="retrying", next_attempt_at=retry_at, updated_at=now)
            )
            connection.execute(
                status_events.insert().values(
                    message_id=message_id,
                    status="retrying",
                    source="recovery",
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
                    attempts.c.state == "in_flight",
                )
            )
        )
        connection.execute(
            update(messages)
            .where(and_(messages.c.id == message_id, messages.c.status == SUBMITTING))
            .values(
                status="pending" if attempt == 1 else "retrying",
                attempt_count=attempt - 1,
                next_attempt_at=retry_at,
                updated_at=utcnow(),
            )
        )

    async def afinish_sent(self, message_id: str, attempt: int, **outcome: Any) -> SentOutcome:
        """Commit an accepted send (group-committed): the attempt, the status, the usage counter.

        :param outcome: ``provider_message_id``, ``status``, ``to_address``,
            ``segments``, ``encoding``, ``usage`` (see :meth:`_sent`).
        """
        return await self.group.run_then(
            lambda connection: self._sent(connection, message_id, attempt, **outcome)
        )

    def _sent(
        self,
        connection: Connection,
        message_id: str,
        attempt: int,
        *,
        provider_message_id: str,
        status: MessageStatus,
        to_address: str,
        segments: int | None,
        encoding: str | None,
        usage: UsageIncrement | None,
    ) -> Rows[SentOutcome]:
        """The one statement whose answer matters (the message's status, which a fast
        callback may have moved on) now; the rest as rows grouped across the batch."""
        now = utcnow()
        row = connection.execute(
            ACCEPTED,
            {
                "m_id": message_id,
                "pid": provider_message_id,
                "to": to_address,
                "seg": segments,
                "enc": encoding,
                "now": now,
                "st": status.value,
            },
        ).one()
        applied = row.status == status.value
        rows: list[tuple[Any, dict[str, Any]]] = [
            (CLOSE_ATTEMPT, {"m_id": message_id, "n": attempt, "st": "succeeded", "now": now}),
            (
                INSERT_STATUS,
                {
                    "message_id": message_id,
                    "status": status.value,
                    "source": "send",
                    "error_code": None,
                    "detail": None,
                    "applied": applied,
                    "recorded_at": now,
                },
            ),
        ]
        if applied:
            state = notification_state(row.status)
            rows.append(
                (
                    MARK_NOTIFICATION,
                    {"n_id": row.notification_id, "state": state, "ch": row.channel, "now": now},
                )
            )
        if usage is not None:
            tenant, month, channel = usage
            rows.append(
                (COUNT_USAGE(connection), {"tenant": tenant, "month": month, "channel": channel})
            )
        return Rows(rows, SentOutcome(str(row.status), applied, now))

    async def afinish_failed(self, message_id: str, attempt: int, **outcome: Any) -> None:
        """Commit a failed attempt (group-committed): to retry at ``retry_at``, or final.

        :param outcome: ``error_kind``, ``error_code``, ``error_message``,
            ``retry_at`` (see :meth:`_failed`). A final failure's fallback is the
            router's (:meth:`afall_back`).
        """
        await self.group.run(
            lambda connection: self._failed(connection, message_id, attempt, **outcome)
        )

    def _failed(
        self,
        connection: Connection,
        message_id: str,
        attempt: int,
        *,
        error_kind: str,
        error_code: str | None,
        error_message: str,
        retry_at: datetime | None,
    ) -> None:
        now = utcnow()
        final = retry_at is None
        self._close_attempt(
            connection,
            message_id,
            attempt,
            "failed",
            now,
            error_kind=error_kind,
            error_code=error_code,
            error_message=error_message,
        )
        connection.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(
                status="failed" if final else "retrying",
                error_code=error_code,
                error_message=error_message,
                next_attempt_at=retry_at,
                failing_since=func.coalesce(messages.c.failing_since, now),
                updated_at=now,
            )
        )
        connection.execute(
            status_events.insert().values(
                message_id=message_id,
                status="failed" if final else "retrying",
                source="send",
                error_code=error_code,
                detail=error_message,
                applied=True,
                recorded_at=now,
            )
        )

    def _close_attempt(
        self, connection: Any, message_id: str, number: int, state: str, now: datetime, **error: Any
    ) -> None:
        connection.execute(
            update(attempts)
            .where(and_(attempts.c.message_id == message_id, attempts.c.number == number))
            .values(state=state, finished_at=now, **error)
        )

    def _increment_usage(self, connection: Any, usage: UsageIncrement) -> None:
        tenant, month, channel = usage
        connection.execute(
            COUNT_USAGE(connection), {"tenant": tenant, "month": month, "channel": channel}
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
                            select(notifications.c.id).where(notifications.c.state == "failed")
                        ),
                    )
                )
                .values(
                    status="retrying",
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
                    "status": "retrying",
                    "source": "operator",
                    "error_code": None,
                    "detail": "re-driven by an operator",
                    "applied": True,
                    "recorded_at": now,
                },
            )
        return True

    # -- callbacks ------------------------------------------------------------------------------
    def apply_status(
        self,
        tenant: str,
        instance: str,
        provider_message_id: str,
        status: MessageStatus,
        *,
        error_code: str | None = None,
        detail: str | None = None,
        source: str = "callback",
        reference: str | None = None,
        dedupe_key: str | None = None,
    ) -> tuple[MessageRecord | None, bool]:
        """Add a provider status to a message's timeline; apply it only if it moves it forward.

        A late ``sent`` never overwrites ``delivered``; ``failed`` after
        ``delivered`` is recorded, not applied. A callback that outruns the
        send's own commit is matched by ``reference`` (our message id).
        ``dedupe_key`` is recorded in the same transaction: a replay changes
        nothing, and a failure to apply leaves the key unrecorded for the retry.

        :returns: the message (after the change) and whether its status changed.
        """
        now = utcnow()
        with self.engine.begin() as connection:
            scope = and_(messages.c.tenant == tenant, messages.c.instance == instance)
            columns = (
                messages.c.id,
                messages.c.status,
                messages.c.notification_id,
                messages.c.channel,
            )
            row = connection.execute(
                select(*columns).where(
                    and_(scope, messages.c.provider_message_id == provider_message_id)
                )
            ).one_or_none()
            if row is None and reference:
                row = connection.execute(
                    select(*columns).where(
                        and_(
                            scope,
                            messages.c.id == reference,
                            messages.c.provider_message_id.is_(None),
                        )
                    )
                ).one_or_none()
                if row is not None:
                    connection.execute(
                        update(messages)
                        .where(messages.c.id == row.id)
                        .values(provider_message_id=provider_message_id)
                    )
            if row is None:
                return None, False
            # Recorded only for a message we know, so a callback that arrives before
            # its message is committed is applied when Twilio retries it.
            if dedupe_key is not None and not first_time_in(connection, dedupe_key):
                return None, False
            applied = _moves_forward(row.status, status)
            connection.execute(
                status_events.insert().values(
                    message_id=row.id,
                    status=status.value,
                    source=source,
                    error_code=error_code,
                    detail=detail,
                    applied=applied,
                    recorded_at=now,
                )
            )
            if applied:
                values: dict[str, Any] = {"status": status.value, "updated_at": now}
                if error_code:
                    values["error_code"] = error_code
                    values["error_message"] = detail
                connection.execute(update(messages).where(messages.c.id == row.id).values(**values))
                if notification_state(status.value) == "delivered":
                    connection.execute(
                        MARK_NOTIFICATION,
                        {
                            "n_id": row.notification_id,
                            "state": "delivered",
                            "ch": row.channel,
                            "now": now,
                        },
                    )
            message_id = row.id
        return self.message(message_id, timeline=False), applied

    async def afall_back(
        self, message: MessageRecord, reason: str, planned: Iterable[NewMessage]
    ) -> list[str] | None:
        """Move a notification on from ``message``: in one transaction, mark the message
        fallen back with ``reason`` and add the ``planned`` messages of the next steps.

        Once per message: ``None``, and nothing written, when it was moved on before. A
        message still waiting to be sent (a deadline passed while it was queued) is
        withdrawn - ``canceled`` - so the next channel does not go with it.

        :returns: the ids of the added messages that are pending (to send).
        """
        planned = list(planned)

        def write(connection: Connection) -> list[str] | None:
            now = utcnow()
            marked = connection.execute(
                update(messages)
                .where(and_(messages.c.id == message.id, messages.c.fallback_reason.is_(None)))
                .values(fallback_reason=reason, updated_at=now)
            ).rowcount
            if not marked:
                return None
            withdrawn = connection.execute(
                update(messages)
                .where(and_(messages.c.id == message.id, messages.c.status.in_(CLAIMABLE)))
                .values(status="canceled", next_attempt_at=None)
            ).rowcount
            if withdrawn:
                connection.execute(
                    INSERT_STATUS,
                    {
                        "message_id": message.id,
                        "status": "canceled",
                        "source": "relaykit",
                        "error_code": None,
                        "detail": f"withdrawn before sending: {reason}",
                        "applied": True,
                        "recorded_at": now,
                    },
                )
            ids = [
                self._insert_message(connection, message.tenant, message.notification_id, m, now).id
                for m in planned
            ]
            live = next((m for m in planned if m.status == "pending"), None)
            connection.execute(  # a delivered notification stays delivered
                update(notifications)
                .where(
                    notifications.c.id == message.notification_id,
                    notifications.c.state != "delivered",
                )
                .values(
                    state=notification_state(live.status if live else "skipped"),
                    channel=live.channel.value if live else notifications.c.channel,
                    updated_at=now,
                )
            )
            return [i for i, m in zip(ids, planned, strict=True) if m.status == "pending"]

        return await self.group.run(write)


def _message_rows(
    tenant: str, notification_id: str, message: NewMessage, now: datetime, claimed: bool
) -> tuple[MessageRecord, list[tuple[Any, dict[str, Any]]]]:
    """A planned message's rows (``claimed``: ``submitting``, attempt 1 in flight) and its
    record as they commit it."""
    message_id = new_id()
    status = SUBMITTING if claimed else message.status
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
                "next_attempt_at": now if message.status == "pending" else None,
                "created_at": now,
                "updated_at": now,
            },
        ),
        (
            INSERT_STATUS,
            {
                "message_id": message_id,
                "status": message.status,
                "source": "relaykit",
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
                {"message_id": message_id, "number": 1, "state": "in_flight", "started_at": now},
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
                source="relaykit",
                recorded_at=now,
                applied=True,
                detail=message.fallback_reason,
            ),
        ),
    )
    return record, rows


#: relaykit's own states before the provider has the message; any provider status beats them.
_LOCAL_PROGRESS = {"skipped": -1, "pending": -1, "retrying": -1, SUBMITTING: -1}


def _moves_forward(current: str, new: MessageStatus) -> bool:
    if current in _LOCAL_PROGRESS:
        now = _LOCAL_PROGRESS[current]
    else:
        try:
            now = MessageStatus(current).progress
        except ValueError:
            now = -1
    return new.progress > now


def first_time_in(connection: Connection, dedupe_key: str) -> bool:
    """Record a callback's dedupe key on ``connection``; False if it was seen before."""
    statement = insert(connection, callback_receipts).values(
        dedupe_key=dedupe_key, received_at=utcnow()
    )
    return insert_if_absent(connection, statement)
