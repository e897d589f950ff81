"""The unit of work: deliver these claimed messages.

Everything that sends runs it - ``notify`` inline, ``serve``'s due sweep,
``relaykit worker``, the deadline sweep, and the bulk path and task queues
built on it - on messages already claimed (``submitting``, the attempt
committed in flight), as :meth:`Outbox.claim_due
<relaykit.store.outbox.Outbox.claim_due>` or the inline create returns them.
Each message gets one attempt (:class:`~relaykit.delivery.dispatcher.Dispatcher`),
at most ``concurrency`` at a time; the outcomes of concurrent attempts share
the group committer's transactions; a final failure moves on through the
router in the transaction that records it. What happened comes back as a
:class:`~relaykit.delivery.batch.BatchResult`, per message and counted: a
caller reports progress, or sends what it made pending, from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

from relaykit.delivery.batch import AttemptResult, BatchResult, Deferred, MovedOn, Retry
from relaykit.delivery.dispatcher import Dispatcher, utcnow
from relaykit.logs import get_logger
from relaykit.store import Claimed, Store

__all__ = ["DEFAULT_CONCURRENCY", "DeliverMessages"]

log = get_logger("relaykit.delivery")

#: Provider calls in flight at once per batch, unless the caller says otherwise.
DEFAULT_CONCURRENCY = 32


class DeliverMessages:
    """Delivers batches of claimed messages: one attempt each (:meth:`run`), or inline until
    settled (:meth:`deliver_now`).

    :param concurrency: provider calls in flight at once within one batch.
    :param inline_wait: :meth:`deliver_now` waits for a retry this long at most; a
        later one stays due in the store for ``relaykit worker`` or ``serve``.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        store: Store,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        inline_wait: float = 30.0,
    ) -> None:
        self.dispatcher = dispatcher
        self.store = store
        self.concurrency = concurrency
        self.inline_wait = inline_wait

    async def run(self, batch: Sequence[Claimed]) -> BatchResult:
        """Send each claimed message once and commit its outcome; returns one result each.

        Retries stay due in the store and fallbacks' next messages pending (both in
        the result): the caller sends them, or leaves them to the next claim.

        :raises Exception: the first unexpected error of an attempt, once every other
            attempt of the batch has committed its outcome; the failed attempt stays
            in flight until recovery settles it.
        """
        if len(batch) == 1:  # the inline path: no task to schedule
            return BatchResult((await self.dispatcher.attempt(batch[0]),))
        return BatchResult(tuple([result async for result in self.stream(batch)]))

    async def stream(self, batch: Sequence[Claimed]) -> AsyncIterator[AttemptResult]:
        """:meth:`run`, yielding each message's result as soon as its outcome is committed
        (progress reports; a worker refilling its free slots).

        :raises Exception: as :meth:`run`, after the last result.
        """
        gate = asyncio.Semaphore(self.concurrency)

        async def one(claimed: Claimed) -> AttemptResult | Exception:
            async with gate:
                try:
                    return await self.dispatcher.attempt(claimed)
                except Exception as exc:  # reported after the others' results
                    log.error("attempt_crashed", message=claimed.message.id, error=repr(exc))
                    return exc

        tasks = [asyncio.ensure_future(one(claimed)) for claimed in batch]
        errors: list[Exception] = []
        try:
            for done in asyncio.as_completed(tasks):
                result = await done
                if isinstance(result, Exception):
                    errors.append(result)
                else:
                    yield result
        finally:  # a consumer that stops early still gets every outcome committed
            await asyncio.gather(*tasks, return_exceptions=True)
        if errors:
            raise errors[0]

    async def deliver_now(
        self, batch: Sequence[Claimed], wait_until: datetime | None = None
    ) -> BatchResult:
        """Send inline: :meth:`run`, then each fallback's next messages, and each retry due
        before ``wait_until`` (default: ``inline_wait`` from now) once it is due, until
        every message is settled or waits longer; returns every attempt's result."""
        wait_until = wait_until or utcnow() + timedelta(seconds=self.inline_wait)
        first = await self.run(batch)
        if self.dispatcher.stopping:
            return first
        follow = [r for r in first.results if _continues(r, wait_until)]
        if not follow:  # the common case: every message settled at once
            return first
        then = await asyncio.gather(*(self._follow(r, wait_until) for r in follow))
        return BatchResult.of([first, *then])

    async def _follow(self, result: AttemptResult, wait_until: datetime) -> BatchResult:
        """The next messages of a fallback, or the retry of a message once it is due."""
        if isinstance(result, MovedOn):
            return await self.deliver_now(await self.claim(result.next_messages), wait_until)
        assert isinstance(result, Retry | Deferred)
        await asyncio.sleep(max(0.0, (result.at - utcnow()).total_seconds()))
        return await self.deliver_now(await self.claim([result.message_id]), wait_until)

    async def claim(self, message_ids: Sequence[str]) -> list[Claimed]:
        """Claim these messages' next attempts here (one statement); none once stopping."""
        if self.dispatcher.stopping:
            return []
        return await self.store.deliveries.aclaim_ids(message_ids)

    async def claim_due(self, limit: int) -> list[Claimed]:
        """Claim up to ``limit`` due messages (one statement). Whoever drives the claims
        decides when to stop: ``serve`` when its dispatcher stops starting, a worker on
        its own stop."""
        return await self.store.deliveries.aclaim_due(limit)


def _continues(result: AttemptResult, wait_until: datetime) -> bool:
    """Whether the inline path goes on after ``result``: a fallback's next messages to
    send, or a retry due before ``wait_until``."""
    if isinstance(result, MovedOn):
        return bool(result.next_messages)
    return isinstance(result, Retry | Deferred) and result.at <= wait_until
