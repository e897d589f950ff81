"""Provider statuses applied to messages: one transaction, grouped across concurrent callbacks.

Each report is recorded in its message's timeline; it changes the message
only when it moves it forward (:func:`~relaykit.store.states.moves_forward`):
a late ``sent`` never overwrites ``delivered``, and ``failed`` after
``delivered`` is recorded, not applied. The reports made within an event-loop
iteration or two are applied together in one write of the store's
:class:`GroupCommitter`, with one statement per kind of row for the whole
batch: the lookup of their messages, the dedupe keys, the timeline rows, the
status updates and the notifications they deliver. Nothing is read back: the
caller learns which message a report was about and whether it changed it. A
batch that fails to commit fails each of its callers (the provider retries;
nothing was written).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from relaykit.results import MessageStatus
from relaykit.store._sql import upsert_statements, utcnow
from relaykit.store._statements import INSERT_STATUS, MARK_NOTIFICATION
from relaykit.store.group_commit import GroupCommitter
from relaykit.store.states import NotificationState, StatusSource, moves_forward
from relaykit.store.tables import callback_receipts, messages

__all__ = ["ProviderStatuses", "StatusReport", "StatusResult"]


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A provider's status for one of its messages, as a callback or reconciliation reports it.

    :ivar reference: relaykit's message id, for a callback that outruns the commit
        of the send's provider message id.
    :ivar dedupe_key: recorded with the change; a report with a key seen before
        changes nothing.
    """

    tenant: str
    instance: str
    provider_message_id: str
    status: MessageStatus
    error_code: str | None = None
    detail: str | None = None
    source: StatusSource = StatusSource.CALLBACK
    reference: str | None = None
    dedupe_key: str | None = None


@dataclass(frozen=True, slots=True)
class StatusResult:
    """What a report did.

    :ivar message_id: the message it is about; ``None`` for an unknown message or a
        replay (nothing was written).
    :ivar applied: whether it changed the message's status.
    :ivar current: the message's status after it.
    """

    message_id: str | None
    applied: bool = False
    current: str | None = None


_IGNORED = StatusResult(None)

_FIND = (
    select(
        messages.c.id,
        messages.c.provider_message_id,
        messages.c.status,
        messages.c.notification_id,
        messages.c.channel,
    )
    .where(
        messages.c.instance == bindparam("inst"),
        messages.c.tenant == bindparam("tenant"),
        messages.c.provider_message_id.in_(bindparam("pids", expanding=True)),
    )
    # PostgreSQL: hold the rows until the batch commits (SQLite's BEGIN IMMEDIATE already does)
    .with_for_update()
)
#: A callback that outran the send's commit: adopt the provider id on the message it names.
_ADOPT = (
    update(messages)
    .where(
        messages.c.id == bindparam("ref"),
        messages.c.tenant == bindparam("b_tenant"),
        messages.c.instance == bindparam("b_inst"),
        messages.c.provider_message_id.is_(None),
    )
    .values(provider_message_id=bindparam("pid"))
    .returning(messages.c.id, messages.c.status, messages.c.notification_id, messages.c.channel)
)
_RECEIPT = upsert_statements(
    lambda insert_into: (
        insert_into(callback_receipts)
        .on_conflict_do_nothing()
        .returning(callback_receipts.c.dedupe_key)
    )
)
#: Compare-and-set on the status read in the same transaction: never a move backwards.
_SET_STATUS = (
    update(messages)
    .where(messages.c.id == bindparam("m_id"), messages.c.status == bindparam("was"))
    .values(status=bindparam("st"), updated_at=bindparam("now"))
)
_SET_STATUS_ERROR = _SET_STATUS.values(error_code=bindparam("ec"), error_message=bindparam("em"))
_DELIVERS = frozenset({MessageStatus.DELIVERED, MessageStatus.READ})


@dataclass(slots=True)
class _Found:
    """A report's message as the batch sees it."""

    id: str
    status: str
    notification_id: str
    channel: str


class _Batch:
    """Reports waiting for the same group write, each with the future its caller awaits."""

    __slots__ = ("reports", "waiters")

    def __init__(self) -> None:
        self.reports: list[StatusReport] = []
        self.waiters: list[asyncio.Future[StatusResult]] = []

    def settle(self, done: asyncio.Future[list[StatusResult]]) -> None:
        """Hand each caller its result once the write committed, or the write's error."""
        error = None if done.cancelled() else done.exception()
        for index, waiter in enumerate(self.waiters):
            if waiter.done():  # its caller was cancelled
                continue
            if done.cancelled():
                waiter.cancel()
            elif error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(done.result()[index])


class ProviderStatuses:
    """Applies :class:`StatusReport` s, many at a time, through the store's group committer."""

    def __init__(self, group: GroupCommitter) -> None:
        self.group = group
        self._open: _Batch | None = None
        self._writing: set[asyncio.Task[list[StatusResult]]] = set()  # held until done

    async def apply(self, report: StatusReport) -> StatusResult:
        """Record ``report`` and apply it if it moves its message forward; once committed.

        A report whose ``dedupe_key`` was recorded before changes nothing. The key
        is recorded only for a message we know, so a callback that arrives before
        its message is committed is applied when the provider retries it.
        """
        loop = asyncio.get_running_loop()
        batch = self._open
        if batch is None:
            batch = self._open = _Batch()
            write = loop.create_task(self.group.run(partial(self._write, batch)))
            self._writing.add(write)
            write.add_done_callback(self._writing.discard)
            write.add_done_callback(batch.settle)
        waiter: asyncio.Future[StatusResult] = loop.create_future()
        batch.reports.append(report)
        batch.waiters.append(waiter)
        return await waiter

    def _write(self, batch: _Batch, connection: Connection) -> list[StatusResult]:
        if self._open is batch:
            self._open = None  # later reports start the next batch
        now = utcnow()
        reports = batch.reports
        found = _find(connection, reports)
        fresh = _first_times(connection, reports, found, now)
        # one update per message, from the status it had to the last one applied
        was = {hit.id: hit.status for hit in found.values()}
        errors: dict[str, StatusReport] = {}
        delivered: dict[str, _Found] = {}
        results: list[StatusResult] = []
        timeline: list[dict[str, Any]] = []
        for index, report in enumerate(reports):
            hit = found.get(index)
            if hit is None or index not in fresh:
                results.append(_IGNORED)
                continue
            applied = moves_forward(hit.status, report.status)
            timeline.append(
                {
                    "message_id": hit.id,
                    "status": report.status.value,
                    "source": report.source,
                    "error_code": report.error_code,
                    "detail": report.detail,
                    "applied": applied,
                    "recorded_at": now,
                }
            )
            if applied:
                hit.status = report.status.value
                if report.error_code:
                    errors[hit.id] = report
                if report.status in _DELIVERS:
                    delivered[hit.id] = hit
            results.append(StatusResult(hit.id, applied, hit.status))
        if timeline:
            connection.execute(INSERT_STATUS, timeline)
        _set_statuses(connection, found, was, errors, now)
        if delivered:
            marks = [
                {
                    "n_id": hit.notification_id,
                    "state": NotificationState.DELIVERED,
                    "ch": hit.channel,
                    "now": now,
                }
                for hit in delivered.values()
            ]
            connection.execute(MARK_NOTIFICATION, marks)
        return results


def _find(connection: Connection, reports: list[StatusReport]) -> dict[int, _Found]:
    """Each report's message, by the report's index: one lookup per tenant and instance.

    Reports about the same message share one :class:`_Found`, so each sees the
    status the ones before it in the batch left.
    """
    wanted: dict[tuple[str, str], set[str]] = {}
    for report in reports:
        wanted.setdefault((report.tenant, report.instance), set()).add(report.provider_message_id)
    rows: dict[tuple[str, str, str], _Found] = {}
    for (tenant, instance), pids in wanted.items():
        params = {"tenant": tenant, "inst": instance, "pids": sorted(pids)}
        for row in connection.execute(_FIND, params).all():
            rows[(tenant, instance, row.provider_message_id)] = _Found(
                row.id, row.status, row.notification_id, row.channel
            )
    found: dict[int, _Found] = {}
    for index, report in enumerate(reports):
        key = (report.tenant, report.instance, report.provider_message_id)
        hit = rows.get(key)
        if hit is None and report.reference:
            adopted = connection.execute(
                _ADOPT,
                {
                    "ref": report.reference,
                    "b_tenant": report.tenant,
                    "b_inst": report.instance,
                    "pid": report.provider_message_id,
                },
            ).one_or_none()
            if adopted is not None:
                hit = rows[key] = _Found(
                    adopted.id, adopted.status, adopted.notification_id, adopted.channel
                )
        if hit is not None:
            found[index] = hit
    return found


def _first_times(
    connection: Connection,
    reports: list[StatusReport],
    found: dict[int, _Found],
    now: datetime,
) -> set[int]:
    """Indexes of the reports to apply: found, and keyless or with a key not seen before.

    The keys go in with one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (PITFALLS
    22); of the same key twice in the batch, only the first report is applied.
    """
    fresh: set[int] = set()
    first_of_key: dict[str, int] = {}
    for index in found:
        key = reports[index].dedupe_key
        if key is None:
            fresh.add(index)
        elif key not in first_of_key:
            first_of_key[key] = index
    if first_of_key:
        rows = [{"dedupe_key": key, "received_at": now} for key in first_of_key]
        inserted = connection.execute(_RECEIPT(connection), rows).scalars()
        fresh.update(first_of_key[key] for key in inserted)
    return fresh


def _set_statuses(
    connection: Connection,
    found: dict[int, _Found],
    was: dict[str, str],
    errors: dict[str, StatusReport],
    now: datetime,
) -> None:
    """One ``UPDATE`` per changed message (``executemany``): its last applied status, and
    the error of the last applied report that had one."""
    plain: list[dict[str, Any]] = []
    with_error: list[dict[str, Any]] = []
    for hit in {id(hit): hit for hit in found.values()}.values():
        if hit.status == was[hit.id]:
            continue
        params = {"m_id": hit.id, "was": was[hit.id], "st": hit.status, "now": now}
        error = errors.get(hit.id)
        if error is None:
            plain.append(params)
        else:
            with_error.append(params | {"ec": error.error_code, "em": error.detail})
    if plain:
        connection.execute(_SET_STATUS, plain)
    if with_error:
        connection.execute(_SET_STATUS_ERROR, with_error)
