"""Broadcasts: one event to a stream of recipients, in chunks, resumable.

A run reads the recipients a chunk at a time (:data:`CHUNK_SIZE`). Each chunk
is one transaction: the keys its recipients would take are looked up in one
``SELECT`` (a re-run skips the ones already made), each new recipient is
planned exactly as :meth:`Relay.notify <relaykit.delivery.relay.Relay.notify>`
plans one (route, seed rules, fallback reasons), and the notifications, their
messages and the broadcast's progress are inserted with one ``executemany``
per table. The idempotency key of each is derived from the broadcast's key and
the recipient id (:func:`~relaykit.store.broadcasts.recipient_key`), so a
recipient is never made twice, whatever stops a run.

Inline, the chunks' messages go to a :class:`_Sender` that claims them a few
at a time as attempts finish - at most ``concurrency`` provider calls in flight,
as ``relaykit worker`` does - while the next chunk is read and planned; reading
waits when two chunks are still unsent, so memory stays flat. Queued
(``inline = false``) the messages are left to ``relaykit worker``.

Stopping (Ctrl-C) finishes the attempts in flight and leaves the rest
``pending``; the next run of the same key sends those first. Messages a killed
process left in flight are settled by crash recovery
(:meth:`Dispatcher.recover <relaykit.delivery.dispatcher.Dispatcher.recover>`:
adopted where the provider has them) once they are ``stale_after_seconds`` old.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from relaykit.broadcast_policy import MAX_DEADLINE_SECONDS
from relaykit.delivery.batch import Accepted, AttemptResult, Deferred, MovedOn, Retry
from relaykit.delivery.dispatcher import utcnow
from relaykit.delivery.pacing import BroadcastPacing
from relaykit.delivery.planner import Plan
from relaykit.errors import ConfigError, RelaykitError
from relaykit.logs import get_logger
from relaykit.recipient_files import BadRow, RecipientRow, row_reason
from relaykit.recipients import Recipient, phone_numbers
from relaykit.results import Channel
from relaykit.settings import TenantSettings
from relaykit.store import Claimed
from relaykit.store.broadcasts import (
    Broadcast,
    BroadcastState,
    BroadcastStatus,
    progress_row,
    recipient_key,
)
from relaykit.store.outbox import NewNotification
from relaykit.store.records import new_id
from relaykit.store.registry import OptOuts
from relaykit.store.states import LocalStatus

if TYPE_CHECKING:
    from relaykit.delivery.relay import Relay

__all__ = [
    "CHUNK_SIZE",
    "BroadcastRun",
    "Progress",
    "RecipientItem",
    "Recipients",
    "open_run",
]

log = get_logger("relaykit.broadcast")

#: Recipients planned and committed per transaction.
CHUNK_SIZE = 500
#: Bad rows kept (with their line numbers) for the report; the rest are only counted.
BAD_ROWS_KEPT = 20
#: Seconds between two progress reports, at least.
PROGRESS_EVERY = 0.2

_UNCHECKED = object()

RecipientItem = Recipient | Mapping[str, Any] | RecipientRow | BadRow
Recipients = Iterable[RecipientItem] | AsyncIterable[RecipientItem]
Progress = Callable[[BroadcastStatus], None]


class BroadcastRun:
    """One run of a broadcast in this process: read, plan, commit and (inline) send.

    :param resumed: the broadcast existed (a re-run): messages an earlier run left
        unsent are sent first.
    """

    def __init__(
        self,
        relay: Relay,
        broadcast: Broadcast,
        *,
        resumed: bool,
        on_progress: Progress | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.relay = relay
        self.broadcast = broadcast
        self.resumed = resumed
        self.on_progress = on_progress
        self.chunk_size = chunk_size
        self.stopped = False
        #: rows read, bad rows (counted; the first :data:`BAD_ROWS_KEPT` kept), already made
        self.read = 0
        self.bad = 0
        self.bad_rows: list[BadRow] = []
        self.skipped = 0
        self._made = 0
        self._sent: collections.Counter[str] = collections.Counter()
        self._failed = 0
        self._fallen_back = 0
        self._reasons: collections.Counter[str] = collections.Counter()
        self._baseline: BroadcastStatus | None = None
        self._last_report = 0.0
        self._sender: _Sender | None = None
        self._shared_check: object = _UNCHECKED
        #: distinct recipients met so far, made or already made: the next one's position in
        #: the broadcast, whose pacing decides whether its senders reach it in time
        self._position = 0
        self.pacing = BroadcastPacing.for_event(
            relay.host.settings,
            broadcast.tenant,
            broadcast.event,
            None
            if broadcast.deadline_seconds is None
            else timedelta(seconds=broadcast.deadline_seconds),
        )

    def stop(self) -> None:
        """Read no more recipients and start no more attempts; those in flight finish."""
        self.stopped = True
        if self._sender is not None:
            self._sender.stop()

    async def run(self, recipients: Recipients) -> BroadcastStatus:
        """Run to the end (or to :meth:`stop`, or a cancel); the broadcast's status then."""
        relay, broadcast = self.relay, self.broadcast
        store = relay.store.broadcasts
        settings = relay.tenant(broadcast.tenant)
        templates = relay.templates.event(broadcast.event, broadcast.tenant)
        if self.resumed:
            await asyncio.to_thread(store.resume, broadcast.id)
            self._baseline = await asyncio.to_thread(store.status, broadcast.id)
        if relay.inline:
            self._sender = _Sender(relay, self._count, backlog=2 * self.chunk_size)
            if self.resumed:
                await self._sender.add(await self._left_unsent())
        finished_reading = False
        async for chunk in _chunks(recipients, self.chunk_size):
            if self.stopped or await asyncio.to_thread(store.state, broadcast.id) == (
                BroadcastState.CANCELLED
            ):
                self.stop()
                break
            pending = await self._enqueue(chunk, settings, templates)
            self._report()
            if self._sender is not None:
                await self._sender.add(pending)
        else:
            finished_reading = not self.stopped
        if finished_reading:
            await asyncio.to_thread(store.enqueued, broadcast.id, self.read, self.bad)
        if self._sender is not None:
            await self._sender.drain()
            if not self.stopped:
                await self._settle_left_in_flight()
        if finished_reading and not self.stopped:
            await asyncio.to_thread(store.finish, broadcast.id)
        status = await asyncio.to_thread(store.status, broadcast.id)
        assert status is not None
        if self.on_progress is not None:
            self.on_progress(status)
        return status

    # -- enqueuing ------------------------------------------------------------------------------

    async def _enqueue(
        self, chunk: list[RecipientItem], settings: Any, templates: Any
    ) -> list[str]:
        """Plan and commit one chunk's new recipients; the ids of the messages to send."""
        broadcast = self.broadcast
        #: recipient id -> (recipient, its own data, its line: for a bad row's report)
        people: dict[str, tuple[Recipient, dict[str, Any], int]] = {}
        for item in chunk:
            self.read += 1
            found = self._recipient(item)
            if found is not None and found[0].id in people:
                self.skipped += 1  # the same person twice in the file: once is enough
            elif found is not None:
                line = item.line if isinstance(item, RecipientRow) else self.read
                people[found[0].id] = (*found, line)
        keys = {recipient_key(broadcast.key, person_id): person_id for person_id in people}
        made = await asyncio.to_thread(
            self.relay.store.broadcasts.existing_keys, broadcast.tenant, list(keys)
        )
        plans: list[tuple[str, Plan]] = []
        lines: dict[str, int] = {}
        for key, person_id in keys.items():
            position = self._position
            self._position += 1
            if key in made:
                self.skipped += 1
                continue
            recipient, row_data, line = people[person_id]
            data = {**broadcast.data, **row_data}
            skip = self.pacing.skipped_channels(position)
            try:
                plan = Plan.build(
                    broadcast.tenant, settings, broadcast.event, recipient, data, skip=skip
                )
                self._check(templates, data, bool(row_data))
            except RelaykitError as exc:
                self._bad(BadRow(line, f"recipient {person_id}: {exc}"))
                continue
            if broadcast.deadline_seconds is not None:
                plan = dataclasses.replace(
                    plan, deadline=timedelta(seconds=broadcast.deadline_seconds)
                )
            plans.append((key, plan))
            lines[key] = line
        optouts = self.relay.store.optouts
        opted = await asyncio.to_thread(_opt_outs, optouts, broadcast.tenant, plans, settings)
        now = utcnow()
        new: list[NewNotification] = []
        with optouts.preloaded(broadcast.tenant, opted):  # no await in this block
            for key, plan in plans:
                try:
                    planned = self.relay.router.first(plan, now)
                except RelaykitError as exc:
                    self._bad(BadRow(lines[key], f"recipient {plan.recipient.id}: {exc}"))
                    continue
                new.append(
                    NewNotification(
                        broadcast.tenant,
                        broadcast.event,
                        plan.recipient.model_dump(mode="json"),
                        plan.data,
                        key,
                        planned,
                        broadcast.id,
                    )
                )
        also = [progress_row(broadcast.id, self.read, self.bad)]
        try:
            created = await self.relay.store.deliveries.astart_many(new, also=also)
        except IntegrityError:  # another run of this broadcast made some of them meanwhile
            taken = await asyncio.to_thread(
                self.relay.store.broadcasts.existing_keys,
                broadcast.tenant,
                [n.idempotency_key or "" for n in new],
            )
            self.skipped += len(taken)
            new = [n for n in new if n.idempotency_key not in taken]
            created = await self.relay.store.deliveries.astart_many(new, also=also)
        pending: list[str] = []
        for made_one in created:
            self._made += 1
            skipped = [m for m in made_one.messages if m.status == LocalStatus.SKIPPED]
            for message in skipped:
                self._reasons[message.fallback_reason or "skipped"] += 1
            live = [m for m in made_one.messages if m.status == LocalStatus.PENDING]
            if not live:
                self._failed += 1
                continue
            if skipped:
                self._fallen_back += 1
            pending.append(live[0].id)
        return pending

    def _check(self, templates: Any, data: Mapping[str, Any], own: bool) -> None:
        """Whether the templates can use ``data``: checked per recipient with data of its
        own, else once for the broadcast's data (the error is kept and raised again)."""
        if own:
            templates.checked_data(data)
            return
        if self._shared_check is _UNCHECKED:
            try:
                templates.checked_data(data)
                self._shared_check = None
            except RelaykitError as exc:
                self._shared_check = exc
        if isinstance(self._shared_check, RelaykitError):
            raise self._shared_check

    def _recipient(self, item: RecipientItem) -> tuple[Recipient, dict[str, Any]] | None:
        if isinstance(item, RecipientRow):
            return item.recipient, item.data
        if isinstance(item, Recipient):
            return item, {}
        if isinstance(item, BadRow):
            self._bad(item)
            return None
        try:
            return Recipient.model_validate(item), {}
        except ValidationError as exc:
            self._bad(BadRow(self.read, row_reason(exc)))
            return None

    def _bad(self, row: BadRow) -> None:
        self.bad += 1
        if len(self.bad_rows) < BAD_ROWS_KEPT:
            self.bad_rows.append(row)
        log.info("broadcast_bad_row", broadcast=self.broadcast.id, line=row.line, reason=row.reason)

    # -- resuming -------------------------------------------------------------------------------

    async def _left_unsent(self) -> list[str]:
        """What an earlier run committed and did not send: its due messages (in flight ones
        are crash recovery's, see :meth:`_settle_left_in_flight`)."""
        due, _ = await asyncio.to_thread(self.relay.store.broadcasts.unsent, self.broadcast.id)
        return due

    async def _settle_left_in_flight(self) -> None:
        """Messages a killed run left in flight: once stale, recovery adopts those the provider
        has and makes the others due; those are sent here."""
        stale_after = timedelta(seconds=self.relay.host.settings.delivery.stale_after_seconds)
        assert self._sender is not None
        while not self.stopped:
            due, in_flight = await asyncio.to_thread(
                self.relay.store.broadcasts.unsent, self.broadcast.id
            )
            if due:
                await self._sender.add(due)
                await self._sender.drain()
                continue
            if not in_flight:
                return
            await self.relay.dispatcher.recover(stale_after)
            due, still = await asyncio.to_thread(
                self.relay.store.broadcasts.unsent, self.broadcast.id
            )
            if not due and still:
                await asyncio.sleep(min(1.0, stale_after.total_seconds()))

    # -- progress -------------------------------------------------------------------------------

    def _count(self, result: AttemptResult, channel: str | None) -> None:
        if isinstance(result, Accepted) and channel:
            self._sent[channel] += 1
        elif isinstance(result, MovedOn) and result.moved:
            self._reasons[str(result.reason)] += 1
            if result.next_messages:
                self._fallen_back += 1
            else:
                self._failed += 1
        self._report()

    def _report(self) -> None:
        if self.on_progress is None:
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_report < PROGRESS_EVERY:
            return
        self._last_report = now
        self.on_progress(self.snapshot())

    def snapshot(self) -> BroadcastStatus:
        """This run's counts so far (on top of the store's at the start of a re-run), from
        memory: no query."""
        base = self._baseline
        sent = sum(self._sent.values()) + (base.sent if base else 0)
        failed = self._failed + (base.failed if base else 0)
        total = self._made + (base.notifications if base else 0)
        by_channel = collections.Counter(base.by_channel if base else {})
        by_channel.update(self._sent)
        reasons = collections.Counter(base.fallback_reasons if base else {})
        reasons.update(self._reasons)
        started = self.broadcast.started_at or self.broadcast.created_at
        seconds = (utcnow() - started).total_seconds()
        return BroadcastStatus(
            id=self.broadcast.id,
            tenant=self.broadcast.tenant,
            event=self.broadcast.event,
            key=self.broadcast.key,
            state=BroadcastState.RUNNING,
            recipients_read=self.read,
            bad_rows=self.bad,
            created_at=self.broadcast.created_at,
            started_at=started,
            by_state={"sent": sent, "failed": failed, "pending": max(0, total - sent - failed)},
            by_channel=dict(by_channel),
            fallback_reasons=dict(reasons),
            fallen_back=self._fallen_back + (base.fallen_back if base else 0),
            rate=sum(self._sent.values()) / seconds if seconds > 0 else None,
        )


class _Sender:
    """Sends the broadcast's messages: claims them a few at a time as attempts finish, with
    at most ``concurrency`` in flight, like ``relaykit worker``; a fallback's next messages
    and a retry due within ``inline_wait`` are sent here too."""

    def __init__(
        self,
        relay: Relay,
        count: Callable[[AttemptResult, str | None], None],
        *,
        backlog: int = 2 * CHUNK_SIZE,
    ) -> None:
        self.relay = relay
        self.count = count
        self.concurrency = relay.host.settings.delivery.concurrency
        self.refill_at = max(1, self.concurrency // 4)
        self.backlog = backlog
        self.queue: collections.deque[str] = collections.deque()
        self.in_flight = 0
        self.waiting = 0  # retries sleeping until they are due
        self.stopped = False
        self.tasks: set[asyncio.Future[None]] = set()
        self.freed = asyncio.Event()

    def stop(self) -> None:
        self.stopped = True
        self.freed.set()

    async def add(self, message_ids: list[str]) -> None:
        """Queue messages to send; returns once at most ``backlog`` wait (back-pressure on
        the reading)."""
        self.queue.extend(message_ids)
        await self._pump(lambda: len(self.queue) > self.backlog)

    async def drain(self) -> None:
        """Until every queued message is sent (or, stopped, until those in flight finish)."""
        await self._pump(lambda: bool(self.queue or self.in_flight or self.waiting))
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _pump(self, busy: Callable[[], bool]) -> None:
        while busy():
            if self.stopped:
                if not self.in_flight:
                    return
            else:
                free = self.concurrency - self.in_flight
                if self.queue and (free >= self.refill_at or (free > 0 and not self.in_flight)):
                    take = [self.queue.popleft() for _ in range(min(free, len(self.queue)))]
                    claimed = await self.relay.unit.claim(take)
                    if claimed:
                        self.in_flight += len(claimed)
                        task = asyncio.ensure_future(self._deliver(claimed))
                        self.tasks.add(task)
                        task.add_done_callback(self.tasks.discard)
                    continue
            self.freed.clear()
            await self.freed.wait()

    async def _deliver(self, batch: list[Claimed]) -> None:
        channels = {c.message.id: c.message.channel.value for c in batch}
        left = len(batch)
        try:
            async for result in self.relay.unit.stream(batch):
                left -= 1
                self.in_flight -= 1
                self.count(result, channels.get(result.message_id))
                self._follow(result)
                self.freed.set()
        except Exception:  # one message must never stop the broadcast (the unit logged it)
            log.exception("broadcast_batch_crashed", messages=len(batch))
        finally:
            self.in_flight -= left
            self.freed.set()

    def _follow(self, result: AttemptResult) -> None:
        """A fallback's next messages go to the front; a retry due soon is queued when due."""
        if isinstance(result, MovedOn):
            self.queue.extendleft(reversed(result.next_messages))
        elif isinstance(result, Retry | Deferred):
            delay = (result.at - utcnow()).total_seconds()
            if delay <= self.relay.unit.inline_wait:  # a later one is the worker's
                self.waiting += 1
                asyncio.get_running_loop().call_later(max(0.0, delay), self._due, result.message_id)

    def _due(self, message_id: str) -> None:
        self.waiting -= 1
        self.queue.appendleft(message_id)
        self.freed.set()


async def _chunks(recipients: Recipients, size: int) -> AsyncIterator[list[RecipientItem]]:
    """``recipients`` in lists of ``size``; a plain iterable is read off the event loop (a
    file)."""
    if isinstance(recipients, AsyncIterable):
        chunk: list[RecipientItem] = []
        async for item in recipients:
            chunk.append(item)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
        return
    iterator = iter(recipients)
    while True:
        chunk = await asyncio.to_thread(_take, iterator, size)
        if not chunk:
            return
        yield chunk


def _take(iterator: Iterator[RecipientItem], size: int) -> list[RecipientItem]:
    chunk = []
    for item in iterator:
        chunk.append(item)
        if len(chunk) >= size:
            break
    return chunk


async def open_run(
    relay: Relay,
    tenant: str,
    event: str,
    data: Mapping[str, Any] | None,
    *,
    key: str | None,
    deadline: float | None,
    on_progress: Progress | None = None,
) -> BroadcastRun:
    """Check the tenant and event, open (or find, to resume) the broadcast; its run.

    Without ``key`` a new one is generated: every such call is a new broadcast.

    :raises ConfigError: unknown tenant.
    :raises UnknownEventError: no templates for the event.
    :raises BroadcastKeyReusedError: ``key`` belongs to a broadcast of other event or data.
    """
    broadcast, created = await asyncio.to_thread(
        open_broadcast, relay, tenant, event, data, key, deadline
    )
    return BroadcastRun(relay, broadcast, resumed=not created, on_progress=on_progress)


def open_broadcast(
    relay: Relay,
    tenant: str,
    event: str,
    data: Mapping[str, Any] | None,
    key: str | None,
    deadline: float | None,
) -> tuple[Broadcast, bool]:
    """:func:`open_run`'s checks and row, synchronously; and whether it was made now."""
    relay.tenant(tenant)
    relay.templates.event(event, tenant)
    if deadline is not None and not 0 < deadline <= MAX_DEADLINE_SECONDS:
        raise ConfigError(
            f"deadline must be a positive number of seconds, at most {MAX_DEADLINE_SECONDS:,} "
            f"(30 days), not {deadline}"
        )
    return relay.store.broadcasts.open(
        tenant, event, key or f"auto-{new_id()}", dict(data or {}), deadline
    )


def _opt_outs(
    optouts: OptOuts, tenant: str, plans: list[tuple[str, Plan]], settings: TenantSettings
) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """The opt-outs among a chunk's addresses, per channel of its routes: one query each
    (the planner would ask once per recipient and step)."""
    wanted: dict[str, set[str]] = collections.defaultdict(set)
    region = settings.sms.default_region
    for _, plan in plans:
        for step in plan.steps:
            if step.channel in (Channel.SMS, Channel.WHATSAPP):
                wanted[step.channel.value].update(phone_numbers(plan.recipient, region))
            elif step.channel == Channel.EMAIL and plan.recipient.email:
                wanted[step.channel.value].add(plan.recipient.email.lower())
    return {
        channel: (frozenset(addresses), optouts.among(tenant, channel, sorted(addresses)))
        for channel, addresses in wanted.items()
    }
