"""Outcomes: what an attempt's result, a provider status or a move to the next step commits.

Every write here goes through the group committer, so concurrent outcomes
share a transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from relaykit.results import MessageStatus
from relaykit.store import _compiled
from relaykit.store._sql import insert, insert_if_absent, utcnow
from relaykit.store._statements import (
    ACCEPTED,
    CLOSE_ATTEMPT,
    COUNT_USAGE,
    INSERT_STATUS,
    MARK_NOTIFICATION,
)
from relaykit.store.group_commit import Rows
from relaykit.store.outbox import DeliveryWrites, message_rows
from relaykit.store.records import (
    AcceptedAttempt,
    FailedAttempt,
    MessageRecord,
    NewMessage,
    SentOutcome,
)
from relaykit.store.states import (
    CLAIMABLE,
    AttemptState,
    LocalStatus,
    NotificationState,
    StatusSource,
    moves_forward,
    notification_state,
)
from relaykit.store.tables import (
    attempts,
    callback_receipts,
    messages,
    notifications,
    status_events,
)

__all__ = ["Outcomes", "first_time_in"]


class Outcomes(DeliveryWrites):
    """Committing attempts' outcomes, provider statuses and fallbacks."""

    async def afinish_sent(self, accepted: AcceptedAttempt) -> SentOutcome:
        """Commit an accepted send (group-committed): the attempt, the status, the usage counter."""
        return await self.group.run_then(lambda connection: _sent(connection, accepted))

    async def afinish_failed(self, failed: FailedAttempt) -> None:
        """Commit a failed attempt (group-committed): to retry at ``failed.retry_at``, or final.

        A final failure's fallback is the router's (:meth:`afall_back`).
        """
        await self.group.run(lambda connection: _failed(connection, failed))

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
        source: StatusSource = StatusSource.CALLBACK,
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
            applied = moves_forward(row.status, status)
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
                if notification_state(status) == NotificationState.DELIVERED:
                    connection.execute(
                        MARK_NOTIFICATION,
                        {
                            "n_id": row.notification_id,
                            "state": NotificationState.DELIVERED,
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
                .values(status=MessageStatus.CANCELED, next_attempt_at=None)
            ).rowcount
            if withdrawn:
                connection.execute(
                    INSERT_STATUS,
                    {
                        "message_id": message.id,
                        "status": MessageStatus.CANCELED,
                        "source": StatusSource.RELAYKIT,
                        "error_code": None,
                        "detail": f"withdrawn before sending: {reason}",
                        "applied": True,
                        "recorded_at": now,
                    },
                )
            ids = []
            for planned_message in planned:
                record, rows = message_rows(
                    message.tenant, message.notification_id, planned_message, now, False
                )
                for statement, parameters in rows:
                    connection.execute(statement, parameters)
                ids.append(record.id)
            live = next((m for m in planned if m.status == LocalStatus.PENDING), None)
            connection.execute(  # a delivered notification stays delivered
                update(notifications)
                .where(
                    notifications.c.id == message.notification_id,
                    notifications.c.state != NotificationState.DELIVERED,
                )
                .values(
                    state=notification_state(live.status if live else LocalStatus.SKIPPED),
                    channel=live.channel.value if live else notifications.c.channel,
                    updated_at=now,
                )
            )
            return [i for i, m in zip(ids, planned, strict=True) if m.status == LocalStatus.PENDING]

        return await self.group.run(write)


def first_time_in(connection: Connection, dedupe_key: str) -> bool:
    """Record a callback's dedupe key on ``connection``; False if it was seen before."""
    statement = insert(connection, callback_receipts).values(
        dedupe_key=dedupe_key, received_at=utcnow()
    )
    return insert_if_absent(connection, statement)


def _sent(connection: Connection, accepted: AcceptedAttempt) -> Rows[SentOutcome]:
    """The one statement whose answer matters (the message's status, which a fast
    callback may have moved on) now; the rest as rows grouped across the batch."""
    now = utcnow()
    status = accepted.status
    # on the DBAPI cursor: this runs once per message (``_compiled``)
    ((current, notification_id, message_channel),) = _compiled.execute(
        connection,
        ACCEPTED,
        {
            "m_id": accepted.message_id,
            "pid": accepted.provider_message_id,
            "to": accepted.to_address,
            "seg": accepted.segments,
            "enc": accepted.encoding,
            "now": now,
            "st": status.value,
        },
    )
    applied = current == status.value
    rows: list[tuple[Any, dict[str, Any]]] = [
        (
            CLOSE_ATTEMPT,
            {
                "m_id": accepted.message_id,
                "n": accepted.attempt,
                "st": AttemptState.SUCCEEDED,
                "now": now,
            },
        ),
        (
            INSERT_STATUS,
            {
                "message_id": accepted.message_id,
                "status": status.value,
                "source": StatusSource.SEND,
                "error_code": None,
                "detail": None,
                "applied": applied,
                "recorded_at": now,
            },
        ),
    ]
    if applied:
        state = notification_state(current)
        rows.append(
            (
                MARK_NOTIFICATION,
                {"n_id": notification_id, "state": state, "ch": message_channel, "now": now},
            )
        )
    if accepted.usage is not None:
        tenant, month, channel = accepted.usage
        rows.append(
            (COUNT_USAGE(connection), {"tenant": tenant, "month": month, "channel": channel})
        )
    return Rows(rows, SentOutcome(str(current), applied, now))


def _failed(connection: Connection, failed: FailedAttempt) -> None:
    now = utcnow()
    status = MessageStatus.FAILED if failed.final else LocalStatus.RETRYING
    connection.execute(
        update(attempts)
        .where(
            and_(attempts.c.message_id == failed.message_id, attempts.c.number == failed.attempt)
        )
        .values(
            state=AttemptState.FAILED,
            finished_at=now,
            error_kind=failed.error_kind,
            error_code=failed.error_code,
            error_message=failed.error_message,
        )
    )
    connection.execute(
        update(messages)
        .where(messages.c.id == failed.message_id)
        .values(
            status=status,
            error_code=failed.error_code,
            error_message=failed.error_message,
            next_attempt_at=failed.retry_at,
            failing_since=func.coalesce(messages.c.failing_since, now),
            updated_at=now,
        )
    )
    connection.execute(
        INSERT_STATUS,
        {
            "message_id": failed.message_id,
            "status": status,
            "source": StatusSource.SEND,
            "error_code": failed.error_code,
            "detail": failed.error_message,
            "applied": True,
            "recorded_at": now,
        },
    )
