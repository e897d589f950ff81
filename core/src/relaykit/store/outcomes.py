"""Outcomes: what an attempt's result or a move to the next step commits.

Every write here goes through the group committer, so concurrent outcomes
share a transaction. A provider's status callback is applied by
:mod:`relaykit.store.statuses`, batched across concurrent callbacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, func, update

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
    LOCAL_STATES,
    AttemptState,
    LocalStatus,
    NotificationState,
    StatusSource,
    notification_state,
)
from relaykit.store.tables import (
    attempts,
    callback_receipts,
    messages,
    notifications,
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

    async def afall_back(
        self,
        message: MessageRecord,
        reason: str,
        planned: Iterable[NewMessage],
        *,
        failed: FailedAttempt | None = None,
    ) -> list[str] | None:
        """Move a notification on from ``message``: in one transaction, mark the message
        fallen back with ``reason`` and add the ``planned`` messages of the next steps.

        Once per message: ``None``, and nothing more written, when it was moved on
        before. A message still waiting to be sent (a deadline passed while it was
        queued) is withdrawn - ``canceled`` - so the next channel does not go with it.

        :param failed: the final failed attempt that made the message move on (a
            permanent error, exhausted retries): committed in the same transaction,
            whether or not the notification was moved on before.
        :returns: the ids of the added messages that are pending (to send).
        """
        planned = list(planned)

        def write(connection: Connection) -> list[str] | None:
            if failed is not None:
                _failed(connection, failed)
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


def _ahead(current: str) -> bool:
    """Whether ``current`` is a provider status a callback set that the person may get."""
    if current in LOCAL_STATES:
        return False
    try:
        return not MessageStatus(current).is_failure
    except ValueError:
        return False


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
    # a faster status callback may have moved the message on (``sent`` before the send's
    # ``queued`` answer): the notification still takes its state, unless that was a failure
    if applied or _ahead(current):
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
