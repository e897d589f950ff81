"""Broadcasts in the store: one row per broadcast, counted from its notifications.

A broadcast is keyed per tenant: opening the same key again returns the same
broadcast, which is how a re-run resumes. Progress (rows read, bad rows) is
written in the transaction of each chunk's notifications
(:func:`progress_row`); what happened to them is never stored twice but
counted from the notifications and messages that carry the broadcast's id,
with ``GROUP BY`` queries (:meth:`Broadcasts.status`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from relaykit.errors import RelaykitError
from relaykit.results import MessageStatus
from relaykit.store._sql import utcnow
from relaykit.store._statements import INSERT_STATUS
from relaykit.store.engine import reader
from relaykit.store.records import new_id
from relaykit.store.states import CLAIMABLE, LocalStatus, NotificationState, StatusSource
from relaykit.store.tables import broadcasts, messages, notifications

__all__ = [
    "INSERT_BROADCAST_NOTIFICATION",
    "Broadcast",
    "BroadcastKeyReusedError",
    "BroadcastState",
    "BroadcastStatus",
    "Broadcasts",
    "progress_row",
    "recipient_key",
]

#: a broadcast's notifications are inserted with their own statement: the group committer
#: groups rows by statement, and these rows bind ``broadcast_id`` where ``notify``'s do not
INSERT_BROADCAST_NOTIFICATION = notifications.insert()

UPDATE_PROGRESS = (
    update(broadcasts)
    .where(broadcasts.c.id == bindparam("b_id"))
    .values(recipients_read=bindparam("read"), bad_rows=bindparam("bad"))
)

SELECT_KEYS = select(notifications.c.idempotency_key).where(
    notifications.c.tenant == bindparam("tenant"),
    notifications.c.idempotency_key.in_(bindparam("keys", expanding=True)),
)


class BroadcastState:
    """A broadcast's states."""

    RUNNING = "running"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class BroadcastKeyReusedError(RelaykitError):
    """The broadcast key belongs to a broadcast of another event or data; nothing was sent."""

    def __init__(self, existing: Broadcast) -> None:
        super().__init__(
            f"broadcast key {existing.key!r} already belongs to broadcast {existing.id} "
            f"(event {existing.event!r}) made with different event or data; run that broadcast "
            "again to resume it, or pass a new --key for a new broadcast"
        )
        self.broadcast_id = existing.id


@dataclass(frozen=True)
class Broadcast:
    """A broadcast's row: what it sends, and where it stands."""

    id: str
    tenant: str
    event: str
    key: str
    data: dict[str, Any]
    deadline_seconds: float | None
    state: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    recipients_read: int = 0
    bad_rows: int = 0
    enqueue_done: bool = False


@dataclass(frozen=True)
class BroadcastStatus:
    """Where a broadcast stands: its notifications counted by state and channel, its messages'
    fallback reasons, and the rate of sends so far.

    :ivar by_state: notifications per state (``pending``, ``sent``, ``delivered``, ``failed``).
    :ivar by_channel: notifications sent or delivered, per channel that carried them.
    :ivar fallback_reasons: messages per fallback reason (why a step was not used).
    :ivar fallen_back: notifications that moved past at least one step.
    :ivar rate: notifications sent per second since it started (``None`` before).
    """

    id: str
    tenant: str
    event: str
    key: str
    state: str
    recipients_read: int = 0
    bad_rows: int = 0
    enqueue_done: bool = False
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    by_state: Mapping[str, int] = field(default_factory=dict)
    by_channel: Mapping[str, int] = field(default_factory=dict)
    fallback_reasons: Mapping[str, int] = field(default_factory=dict)
    fallen_back: int = 0
    rate: float | None = None

    @property
    def notifications(self) -> int:
        return sum(self.by_state.values())

    @property
    def sent(self) -> int:
        """Handed to a provider (sent or delivered)."""
        return self.by_state.get("sent", 0) + self.by_state.get("delivered", 0)

    @property
    def failed(self) -> int:
        return self.by_state.get("failed", 0)

    @property
    def pending(self) -> int:
        return self.by_state.get("pending", 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the CLI's ``--json`` and the HTTP service print this."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "event": self.event,
            "key": self.key,
            "state": self.state,
            "recipients_read": self.recipients_read,
            "bad_rows": self.bad_rows,
            "enqueue_done": self.enqueue_done,
            "created_at": _moment(self.created_at),
            "started_at": _moment(self.started_at),
            "finished_at": _moment(self.finished_at),
            "notifications": self.notifications,
            "sent": self.sent,
            "failed": self.failed,
            "pending": self.pending,
            "fallen_back": self.fallen_back,
            "by_state": dict(self.by_state),
            "by_channel": dict(self.by_channel),
            "fallback_reasons": dict(self.fallback_reasons),
            "rate": round(self.rate, 1) if self.rate is not None else None,
        }


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def recipient_key(broadcast_key: str, recipient_id: str) -> str:
    """The idempotency key of a broadcast's notification for one recipient (at most 200
    characters, the column's width: a longer one is hashed)."""
    key = f"b:{broadcast_key}:{recipient_id}"
    if len(key) <= 200:
        return key
    digest = hashlib.sha256(f"{broadcast_key}\0{recipient_id}".encode()).hexdigest()
    return f"b:{broadcast_key[:100]}:#{digest}"


def progress_row(broadcast_id: str, read: int, bad: int) -> tuple[Any, dict[str, Any]]:
    """The statement recording a broadcast's progress, for a chunk's transaction."""
    return UPDATE_PROGRESS, {"b_id": broadcast_id, "read": read, "bad": bad}


class Broadcasts:
    """Opening, progressing, cancelling and counting broadcasts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    def open(
        self,
        tenant: str,
        event: str,
        key: str,
        data: Mapping[str, Any],
        deadline_seconds: float | None = None,
    ) -> tuple[Broadcast, bool]:
        """The broadcast with ``key`` for ``tenant``, made now if there is none; and whether
        it was made now (``False``: a re-run, which resumes it).

        :raises BroadcastKeyReusedError: the key's broadcast has another event or data.
        """
        now = utcnow()
        broadcast_id = new_id()
        row = {
            "id": broadcast_id,
            "tenant": tenant,
            "event": event,
            "key": key,
            "data": dict(data),
            "deadline_seconds": deadline_seconds,
            "state": BroadcastState.RUNNING,
            "created_at": now,
            "started_at": now,
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(broadcasts.insert(), row)
        except IntegrityError:
            existing = self.by_key(tenant, key)
            if existing is None:
                raise
            if existing.event != event or existing.data != dict(data):
                raise BroadcastKeyReusedError(existing) from None
            return existing, False
        return Broadcast(
            id=broadcast_id,
            tenant=tenant,
            event=event,
            key=key,
            data=dict(data),
            deadline_seconds=deadline_seconds,
            state=BroadcastState.RUNNING,
            created_at=now,
            started_at=now,
        ), True

    def get(self, broadcast_id: str) -> Broadcast | None:
        return self._one(broadcasts.c.id == broadcast_id)

    def by_key(self, tenant: str, key: str) -> Broadcast | None:
        return self._one(and_(broadcasts.c.tenant == tenant, broadcasts.c.key == key))

    def _one(self, where: Any) -> Broadcast | None:
        with self.reader.connect() as connection:
            row = connection.execute(select(broadcasts).where(where)).one_or_none()
        if row is None:
            return None
        fields: dict[str, Any] = dict(row._mapping)
        return Broadcast(**fields)

    def existing_keys(self, tenant: str, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` notifications of ``tenant`` already hold: one ``SELECT``."""
        if not keys:
            return set()
        with self.reader.connect() as connection:
            rows = connection.execute(SELECT_KEYS, {"tenant": tenant, "keys": list(keys)})
            return {row[0] for row in rows}

    def state(self, broadcast_id: str) -> str | None:
        with self.reader.connect() as connection:
            return connection.execute(
                select(broadcasts.c.state).where(broadcasts.c.id == broadcast_id)
            ).scalar_one_or_none()

    def resume(self, broadcast_id: str) -> None:
        """A re-run of a finished or interrupted broadcast: running again, enqueuing again."""
        with self.engine.begin() as connection:
            connection.execute(
                update(broadcasts)
                .where(
                    broadcasts.c.id == broadcast_id,
                    broadcasts.c.state != BroadcastState.CANCELLED,
                )
                .values(state=BroadcastState.RUNNING, enqueue_done=False, finished_at=None)
            )

    def enqueued(self, broadcast_id: str, read: int, bad: int) -> None:
        """Every recipient was read: the final counts."""
        with self.engine.begin() as connection:
            connection.execute(
                update(broadcasts)
                .where(broadcasts.c.id == broadcast_id)
                .values(recipients_read=read, bad_rows=bad, enqueue_done=True)
            )

    def finish(self, broadcast_id: str) -> None:
        """Every message made was sent or left to the worker: finished (unless cancelled)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(broadcasts)
                .where(
                    broadcasts.c.id == broadcast_id,
                    broadcasts.c.state == BroadcastState.RUNNING,
                )
                .values(state=BroadcastState.FINISHED, finished_at=utcnow())
            )

    def cancel(self, broadcast_id: str) -> int | None:
        """Cancel: no more recipients are enqueued, and its messages not yet handed to a
        provider are withdrawn (``canceled``; their notifications ``failed``). What was sent
        stays sent.

        :returns: how many messages were withdrawn, or ``None`` for an unknown broadcast.
        """
        now = utcnow()
        of_broadcast = select(notifications.c.id).where(
            notifications.c.broadcast_id == broadcast_id
        )
        with self.engine.begin() as connection:
            found = connection.execute(
                update(broadcasts)
                .where(broadcasts.c.id == broadcast_id)
                .values(
                    state=BroadcastState.CANCELLED,
                    finished_at=func.coalesce(broadcasts.c.finished_at, now),
                )
            ).rowcount
            if not found:
                return None
            withdrawn = connection.execute(
                update(messages)
                .where(
                    messages.c.notification_id.in_(of_broadcast),
                    messages.c.status.in_(CLAIMABLE),
                )
                .values(status=MessageStatus.CANCELED, next_attempt_at=None, updated_at=now)
                .returning(messages.c.id, messages.c.notification_id)
            ).all()
            if withdrawn:
                connection.execute(
                    INSERT_STATUS,
                    [
                        {
                            "message_id": row.id,
                            "status": MessageStatus.CANCELED,
                            "source": StatusSource.OPERATOR,
                            "error_code": None,
                            "detail": "withdrawn: its broadcast was cancelled",
                            "applied": True,
                            "recorded_at": now,
                        }
                        for row in withdrawn
                    ],
                )
                connection.execute(
                    update(notifications)
                    .where(
                        notifications.c.id.in_({row.notification_id for row in withdrawn}),
                        notifications.c.state == NotificationState.PENDING,
                    )
                    .values(state=NotificationState.FAILED, updated_at=now)
                )
        return len(withdrawn)

    def unsent(self, broadcast_id: str) -> tuple[list[str], int]:
        """The broadcast's messages a stopped run left due (``pending``/``retrying``, to claim
        and send), and how many are still ``submitting`` (in flight, or left so by a process
        that died: crash recovery settles those)."""
        of_broadcast = select(notifications.c.id).where(
            notifications.c.broadcast_id == broadcast_id
        )
        with self.reader.connect() as connection:
            rows = connection.execute(
                select(messages.c.id, messages.c.status).where(
                    messages.c.notification_id.in_(of_broadcast),
                    messages.c.status.in_((*CLAIMABLE, LocalStatus.SUBMITTING)),
                )
            ).all()
        due = [r.id for r in rows if r.status != LocalStatus.SUBMITTING]
        return due, len(rows) - len(due)

    def status(self, broadcast_id: str) -> BroadcastStatus | None:
        """Counts by state, channel and fallback reason, and the rate: three ``GROUP BY``
        queries over the broadcast's notifications and messages, whatever its size."""
        with self.reader.connect() as connection:
            row = connection.execute(
                select(broadcasts).where(broadcasts.c.id == broadcast_id)
            ).one_or_none()
            if row is None:
                return None
            mine = notifications.c.broadcast_id == broadcast_id
            counts = connection.execute(
                select(notifications.c.state, notifications.c.channel, func.count())
                .where(mine)
                .group_by(notifications.c.state, notifications.c.channel)
            ).all()
            joined = messages.join(notifications, messages.c.notification_id == notifications.c.id)
            reasons = connection.execute(
                select(messages.c.fallback_reason, func.count())
                .select_from(joined)
                .where(mine, messages.c.fallback_reason.is_not(None))
                .group_by(messages.c.fallback_reason)
            ).all()
            fallen_back = connection.execute(
                select(func.count(func.distinct(messages.c.notification_id)))
                .select_from(joined)
                .where(mine, messages.c.fallback_reason.is_not(None))
            ).scalar_one()
        by_state: dict[str, int] = {}
        by_channel: dict[str, int] = {}
        for state, channel, count in counts:
            by_state[state] = by_state.get(state, 0) + count
            if channel and state in (NotificationState.SENT, NotificationState.DELIVERED):
                by_channel[channel] = by_channel.get(channel, 0) + count
        sent = sum(by_channel.values())
        return BroadcastStatus(
            id=row.id,
            tenant=row.tenant,
            event=row.event,
            key=row.key,
            state=row.state,
            recipients_read=row.recipients_read,
            bad_rows=row.bad_rows,
            enqueue_done=row.enqueue_done,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            by_state=by_state,
            by_channel=by_channel,
            fallback_reasons={reason: count for reason, count in reasons},
            fallen_back=fallen_back,
            rate=_rate(sent, row.started_at, row.finished_at),
        )


def _rate(sent: int, started: datetime | None, finished: datetime | None) -> float | None:
    if started is None:
        return None
    seconds = ((finished or utcnow()) - started).total_seconds()
    return sent / seconds if seconds > 0 else None
