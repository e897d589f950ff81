"""``relaykit worker``: sends queued messages concurrently, and keeps the books straight.

Each loop claims a batch of due messages in one statement (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so several workers share a backlog without claiming one
message twice) and runs the unit of work on it
(:class:`~relaykit.delivery.unit.DeliverMessages`) as an asyncio task, with at
most ``concurrency`` messages in flight. Around that, at intervals:

* recovery of attempts a crashed process left in flight (reconciled with the
  provider where it can be looked up; sent again otherwise);
* the delivery-deadline sweep;
* the stuck-status sweep: accepted messages with no final status after
  ``stuck_after`` are fetched from the provider, because Twilio retries a
  lost callback only once (PITFALLS 9);
* a re-check of instances marked not connected, which go back into use once
  ``authenticate`` accepts their credentials; the secrets are re-read first, so a
  rotated credential is picked up without a restart (SIGHUP does it at once,
  see :mod:`relaykit.delivery.reload`).

On SQLite only one worker process may run at a time: it holds an exclusive
lock on ``worker.lock`` in the data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from relaykit.connectors import SupportsReconcile
from relaykit.delivery.dispatcher import utcnow
from relaykit.delivery.relay import Relay
from relaykit.delivery.reload import recheck, reload_secrets
from relaykit.errors import ConfigError, ConnectorError, RelaykitError
from relaykit.logs import get_logger
from relaykit.results import CallbackOutcome
from relaykit.store import Claimed

__all__ = ["Worker", "WorkerAlreadyRunning", "WorkerStats"]

log = get_logger("relaykit.worker")


class WorkerAlreadyRunning(RelaykitError):
    """Another worker holds this SQLite store; run one, or move to PostgreSQL for several."""


@dataclass
class WorkerStats:
    attempts: int = 0
    adopted: int = 0
    resent: int = 0
    deadlines: int = 0
    swept: int = 0


class Worker:
    """Claims due messages in batches and delivers them, ``concurrency`` at a time."""

    def __init__(
        self,
        relay: Relay,
        *,
        concurrency: int | None = None,
        poll_interval: float = 0.2,
        housekeeping_interval: float = 30.0,
        deadline_interval: float = 1.0,
    ) -> None:
        self.relay = relay
        #: ``[delivery] concurrency`` unless given
        self.concurrency = concurrency or relay.host.settings.delivery.concurrency
        self.poll_interval = poll_interval
        self.housekeeping_interval = housekeeping_interval
        #: deadlines can be seconds (``deadline_seconds``): swept more often than the rest
        self.deadline_interval = deadline_interval
        delivery = relay.host.settings.delivery
        self.stale_after = timedelta(seconds=delivery.stale_after_seconds)
        self.stuck_after = timedelta(minutes=delivery.stuck_after_minutes)
        self.stats = WorkerStats()
        self._stop = asyncio.Event()
        self._in_flight = 0
        self._refill_at = max(1, self.concurrency // 4)
        #: set whenever an attempt's outcome is committed: a slot to claim for
        self._freed = asyncio.Event()

    def stop(self) -> None:
        """Finish the attempts in flight, claim nothing more, and return from :meth:`run`."""
        self._stop.set()
        self._freed.set()  # wake the loop now, not at the next poll

    async def run(self, *, until_idle: bool = False) -> WorkerStats:
        """Work until :meth:`stop` (or, with ``until_idle``, until nothing is due or in flight)."""
        with self._exclusive_on_sqlite():
            await self._housekeeping()
            loop = asyncio.get_running_loop()
            last_housekeeping = last_deadlines = last_claim = loop.time()
            running: set[asyncio.Task[None]] = set()
            while not self._stop.is_set():
                self._freed.clear()
                free = self.concurrency - self._in_flight
                # refill in batches: a claim per freed slot would cost a transaction each;
                # but a slot free for a poll interval is refilled, so while paced sends hold
                # the others an OTP (claimed first) waits one poll, not a quarter of the line
                refill = free >= self._refill_at or (free > 0 and not self._in_flight)
                refill |= free > 0 and loop.time() - last_claim >= self.poll_interval
                claimed = await self.relay.unit.claim_due(free) if refill else []
                if refill:
                    last_claim = loop.time()
                if claimed:
                    self._in_flight += len(claimed)
                    task = asyncio.create_task(self._deliver(claimed))
                    running.add(task)
                    task.add_done_callback(running.discard)
                now = loop.time()
                if now - last_housekeeping >= self.housekeeping_interval:
                    await self._housekeeping()
                    last_housekeeping = last_deadlines = now
                elif now - last_deadlines >= self.deadline_interval:
                    self.stats.deadlines += await self.relay.sweep_deadlines()
                    last_deadlines = now
                if until_idle and not running and not claimed and await self._idle():
                    break
                if not claimed:
                    await self._wait(running)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        return self.stats

    async def _deliver(self, batch: list[Claimed]) -> None:
        """Deliver a claimed batch, freeing a slot as each message's outcome is committed."""
        self.stats.attempts += len(batch)
        left = len(batch)
        try:
            async for _ in self.relay.unit.stream(batch):
                left -= 1
                self._in_flight -= 1
                self._freed.set()
        except Exception:  # one message must never stop the worker (the unit logged it)
            log.exception("batch_crashed", messages=len(batch))
        finally:
            self._in_flight -= left
            self._freed.set()

    async def _idle(self) -> bool:
        """Nothing due and no attempt in flight anywhere.

        An attempt a dead process left in flight is recovered as soon as it is
        stale (``stale_after_seconds``), which makes its message due or settles it.
        """
        deliveries = self.relay.store.deliveries
        if deliveries.next_due_at() is not None:
            return False
        started = deliveries.oldest_in_flight()
        if started is None:
            return True
        if started < utcnow() - self.stale_after:
            await self._recover()
        return False

    async def _wait(self, running: set[asyncio.Task[None]]) -> None:
        """Until a slot is freed (a message's outcome committed), a stop, or the poll interval."""
        wake = self._freed if running else self._stop
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), self.poll_interval)

    # -- housekeeping ---------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        await self._recover()
        self.stats.deadlines += await self.relay.sweep_deadlines()
        self.stats.swept += await self.sweep_stuck()
        await self.recheck_down_instances()

    async def _recover(self) -> None:
        adopted, resent = await self.relay.dispatcher.recover(self.stale_after)
        self.stats.adopted += adopted
        self.stats.resent += resent

    async def sweep_stuck(self) -> int:
        """Fetch the provider's status of messages stuck without a final status; apply it."""
        swept = 0
        for message in self.relay.store.deliveries.unfinished(utcnow() - self.stuck_after):
            label = f"{message.tenant}/{message.instance}"
            connector = self.relay.host.connector(label)
            if not isinstance(connector, SupportsReconcile) or not message.provider_message_id:
                continue
            try:
                update = await connector.fetch_status(message.provider_message_id)
            except ConnectorError as exc:
                log.warning("status_fetch_failed", message=message.id, error=str(exc))
                continue
            outcome = CallbackOutcome(events=(update,))
            await self.relay.apply_callback(message.tenant, message.instance, outcome)
            swept += 1
        return swept

    async def recheck_down_instances(self) -> None:
        """Put instances marked not connected back into use once they authenticate again.

        The settings are read again first: a credential fixed in the secrets
        directory is what usually brings an instance back.
        """
        if not self.relay.health.down():
            return
        try:
            await reload_secrets(self.relay)
        except ConfigError as exc:
            log.error("secrets_reload_failed", error=str(exc))
            await recheck(self.relay, self.relay.health.down())

    @contextlib.contextmanager
    def _exclusive_on_sqlite(self) -> Iterator[None]:
        engine = self.relay.store.engine
        if engine.dialect.name != "sqlite" or not engine.url.database:
            yield
            return
        lock_path = Path(engine.url.database).with_name("worker.lock")
        with lock_path.open("a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkerAlreadyRunning(
                    f"another worker is running on {engine.url.database}; SQLite allows one "
                    "(use PostgreSQL - database_url - for several)"
                ) from None
            lock.seek(0)
            lock.truncate()
            lock.write(f"{os.getpid()}\n")
            lock.flush()
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
