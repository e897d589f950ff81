"""Reading deliveries back: records, timelines, and the queries the worker and sweepers run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, and_, func, select

from relaykit.results import Channel, Priority
from relaykit.store._statements import (
    SELECT_MESSAGE,
    SELECT_MESSAGES_OF,
    SELECT_NOTIFICATION,
    SELECT_TIMELINES,
)
from relaykit.store.engine import reader
from relaykit.store.records import (
    DeliveryRecord,
    MessageRecord,
    StatusChange,
    request_fingerprint,
    template_from_json,
)
from relaykit.store.states import CLAIMABLE
from relaykit.store.tables import attempts, messages, notifications

__all__ = ["DeliveryReads"]


class DeliveryReads:
    """Queries over notifications, messages and attempts; they never take the write lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    def next_due_at(self) -> datetime | None:
        """When the earliest pending or retrying message is due."""
        with self.reader.connect() as connection:
            due: datetime | None = connection.execute(
                select(func.min(messages.c.next_attempt_at)).where(messages.c.status.in_(CLAIMABLE))
            ).scalar_one_or_none()
        return due

    def stale_attempts(self, started_before: datetime) -> list[tuple[str, int, datetime]]:
        """In-flight attempts older than ``started_before``: their process died mid-call."""
        with self.reader.connect() as connection:
            rows = connection.execute(
                select(attempts.c.message_id, attempts.c.number, attempts.c.started_at).where(
                    and_(attempts.c.state == "in_flight", attempts.c.started_at < started_before)
                )
            ).all()
        return [(r.message_id, r.number, r.started_at) for r in rows]

    def oldest_in_flight(self) -> datetime | None:
        """When the oldest attempt still in flight started (a live call, or a dead process's)."""
        with self.reader.connect() as connection:
            value = connection.execute(
                select(func.min(attempts.c.started_at)).where(attempts.c.state == "in_flight")
            ).scalar_one_or_none()
        return value

    def unfinished(self, older_than: datetime, limit: int = 100) -> list[MessageRecord]:
        """Accepted messages still in a non-final provider status after ``older_than``."""
        with self.reader.connect() as connection:
            rows = connection.execute(
                select(messages)
                .where(
                    and_(
                        messages.c.provider_message_id.is_not(None),
                        messages.c.status.in_(
                            ["queued", "accepted", "scheduled", "sending", "sent"]
                        ),
                        messages.c.updated_at < older_than,
                    )
                )
                .limit(limit)
            ).all()
        return [_message(row, ()) for row in rows]

    def find_by_key(self, tenant: str, idempotency_key: str) -> str | None:
        found = self.keyed(tenant, idempotency_key)
        return found[0] if found else None

    def keyed(self, tenant: str, idempotency_key: str) -> tuple[str, str] | None:
        """``(notification_id, request_fingerprint)`` of the notification holding the key."""
        with self.reader.connect() as connection:
            row = connection.execute(
                select(
                    notifications.c.id,
                    notifications.c.event,
                    notifications.c.recipient,
                    notifications.c.data,
                    notifications.c.staff,
                ).where(
                    and_(
                        notifications.c.tenant == tenant,
                        notifications.c.idempotency_key == idempotency_key,
                    )
                )
            ).one_or_none()
        if row is None:
            return None
        return row.id, request_fingerprint(row.event, row.recipient, row.data, row.staff)

    def get(self, notification_id: str, *, duplicate: bool = False) -> DeliveryRecord | None:
        with self.reader.connect() as connection:
            row = connection.execute(SELECT_NOTIFICATION, {"n_id": notification_id}).one_or_none()
            if row is None:
                return None
            rows = connection.execute(SELECT_MESSAGES_OF, {"n_id": notification_id}).all()
            timelines = self._timelines(connection, [m.id for m in rows])
        return DeliveryRecord(
            id=row.id,
            tenant=row.tenant,
            event=row.event,
            recipient_id=row.recipient_id,
            state=row.state,
            channel=Channel(row.channel) if row.channel else None,
            idempotency_key=row.idempotency_key,
            created_at=row.created_at,
            messages=tuple(_message(m, timelines.get(m.id, ())) for m in rows),
            duplicate=duplicate,
        )

    def notification_of(self, message_id: str) -> tuple[str, Mapping[str, Any], Mapping[str, Any]]:
        """``(notification_id, recipient, data)`` of a message."""
        with self.reader.connect() as connection:
            row = connection.execute(
                select(notifications.c.id, notifications.c.recipient, notifications.c.data)
                .join(messages, messages.c.notification_id == notifications.c.id)
                .where(messages.c.id == message_id)
            ).one()
        return row.id, row.recipient, row.data

    def recipient_by_address(self, tenant: str, address: str) -> Mapping[str, Any] | None:
        """The recipient of the latest message this tenant sent to ``address``."""
        with self.reader.connect() as connection:
            return connection.execute(
                select(notifications.c.recipient)
                .join(messages, messages.c.notification_id == notifications.c.id)
                .where(and_(messages.c.tenant == tenant, messages.c.to_address == address))
                .order_by(messages.c.created_at.desc())
                .limit(1)
            ).scalar_one_or_none()

    def queued_to(self, tenant: str, channel: str, addresses: Iterable[str]) -> list[MessageRecord]:
        """``tenant``'s messages on ``channel`` to any of ``addresses`` that the provider does
        not have yet (``pending`` or ``retrying``): what an opt-out withdraws."""
        query = select(messages).where(
            messages.c.tenant == tenant,
            messages.c.channel == channel,
            messages.c.to_address.in_(list(addresses)),
            messages.c.status.in_(CLAIMABLE),
        )
        with self.reader.connect() as connection:
            rows = connection.execute(query).all()
        return [_message(row, ()) for row in rows]

    def past_deadline(self, now: datetime) -> list[str]:
        """Ids of accepted messages whose delivery deadline passed without ``delivered``."""
        with self.reader.connect() as connection:
            rows = connection.execute(
                select(messages.c.id).where(
                    and_(
                        messages.c.deadline_at.is_not(None),
                        messages.c.deadline_at < now,
                        messages.c.fallback_reason.is_(None),
                        messages.c.status.not_in(["delivered", "read", "failed", "skipped"]),
                    )
                )
            ).all()
        return [row.id for row in rows]

    def notification_row(self, notification_id: str) -> Row[Any]:
        with self.reader.connect() as connection:
            return connection.execute(
                select(notifications).where(notifications.c.id == notification_id)
            ).one()

    def message(self, message_id: str, *, timeline: bool = True) -> MessageRecord | None:
        """A message; ``timeline=False`` skips reading its status history."""
        with self.reader.connect() as connection:
            row = connection.execute(SELECT_MESSAGE, {"m_id": message_id}).one_or_none()
            if row is None:
                return None
            changes = (
                self._timelines(connection, [message_id]).get(message_id, ()) if timeline else ()
            )
        return _message(row, changes)

    def list_messages(
        self,
        *,
        tenant: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[MessageRecord]:
        query = select(messages).order_by(messages.c.created_at.desc()).limit(limit)
        if tenant:
            query = query.where(messages.c.tenant == tenant)
        if status:
            query = query.where(messages.c.status == status)
        if channel:
            query = query.where(messages.c.channel == channel)
        if since:
            query = query.where(messages.c.created_at >= since)
        with self.reader.connect() as connection:
            rows = connection.execute(query).all()
        return [_message(row, ()) for row in rows]

    def _timelines(self, connection: Any, ids: list[str]) -> dict[str, tuple[StatusChange, ...]]:
        if not ids:
            return {}
        rows = connection.execute(SELECT_TIMELINES, {"ids": ids}).all()
        timelines: dict[str, list[StatusChange]] = {}
        for row in rows:
            timelines.setdefault(row.message_id, []).append(
                StatusChange(
                    status=row.status,
                    source=row.source,
                    recorded_at=row.recorded_at,
                    applied=row.applied,
                    error_code=row.error_code,
                    detail=row.detail,
                )
            )
        return {k: tuple(v) for k, v in timelines.items()}


def _message(row: Any, timeline: Iterable[StatusChange]) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        notification_id=row.notification_id,
        tenant=row.tenant,
        step=row.step,
        channel=Channel(row.channel),
        instance=row.instance,
        to_address=row.to_address,
        sender=row.sender,
        subject=row.subject,
        body=row.body,
        html_body=row.html_body,
        status=row.status,
        provider_message_id=row.provider_message_id,
        segments=row.segments,
        encoding=row.encoding,
        error_code=row.error_code,
        error_message=row.error_message,
        fallback_reason=row.fallback_reason,
        attempt_count=row.attempt_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        timeline=tuple(timeline),
        failing_since=row.failing_since,
        template=template_from_json(row.provider_template),
        priority=Priority.of_rank(row.priority),
        validity_period=row.validity_period,
    )
