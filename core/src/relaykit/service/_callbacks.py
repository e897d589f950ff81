"""Applying verified callbacks without keeping the provider waiting (PITFALLS 12).

Twilio gives up on a webhook after 15 s and retries it. Applying a callback
can take longer than that: an ``undelivered`` status sends the email
fallback inline, and a slow SMTP server holds it up. So the work runs as a
task; the request waits for it only up to a budget, then answers and lets
it finish. The callback's dedupe key is recorded first, so a provider retry
arriving meanwhile is ignored rather than applied twice.
"""

from __future__ import annotations

import asyncio

from relaykit.delivery import Relay
from relaykit.logs import get_logger
from relaykit.results import CallbackOutcome

__all__ = ["DEFAULT_CALLBACK_BUDGET_S", "DEFAULT_DRAIN_S", "CallbackApplier"]

#: How long a webhook request waits for its events to be applied before answering anyway.
DEFAULT_CALLBACK_BUDGET_S = 5.0
#: How long a shutdown waits for callbacks still being applied in the background.
DEFAULT_DRAIN_S = 30.0

log = get_logger("relaykit.service")


class CallbackApplier:
    """Runs ``Relay.apply_callback`` for verified requests; keeps the unfinished ones."""

    def __init__(self, relay: Relay, budget_s: float = DEFAULT_CALLBACK_BUDGET_S) -> None:
        self._relay = relay
        self._budget_s = budget_s
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Callbacks still being applied after their request was answered."""
        return len(self._pending)

    async def apply(self, tenant: str, instance: str, outcome: CallbackOutcome) -> bool:
        """Apply ``outcome``; True when it finished within the budget.

        An error raised within the budget propagates (the provider gets a 500
        and may retry); one raised later is logged.
        """
        if not outcome.events:
            return True
        task = asyncio.create_task(self._relay.apply_callback(tenant, instance, outcome))
        done, _ = await asyncio.wait({task}, timeout=self._budget_s)
        if done:
            task.result()
            return True
        self._pending.add(task)
        task.add_done_callback(self._finished)
        log.info(
            "callback_applying_in_background",
            tenant=tenant,
            instance=instance,
            budget_s=self._budget_s,
        )
        return False

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "callback_apply_failed",
                error=task.exception(),
            )

    async def drain(self, timeout: float = DEFAULT_DRAIN_S) -> None:
        """On shutdown: start no new provider call, and finish the ones in flight.

        From now on the relay starts no attempt here: a fallback or retry stays
        committed for ``relaykit worker``. Background applications get
        ``timeout``; what is left then is cancelled, but never while a provider
        call is in flight: cutting one (an SMTP relay still holding DATA) would
        leave an attempt that recovery must send again. Each call ends by its
        connector's own timeout.
        """
        dispatcher = self._relay.dispatcher
        dispatcher.stop_starting()
        if not self._pending:
            return
        _, left = await asyncio.wait(set(self._pending), timeout=timeout)
        if left and dispatcher.running:
            log.info("waiting_for_provider_calls_on_shutdown", calls=dispatcher.running)
        while left and dispatcher.running:
            _, left = await asyncio.wait(left, timeout=0.1, return_when=asyncio.FIRST_COMPLETED)
        for task in left:
            task.cancel()
        if left:
            log.warning("callbacks_abandoned_on_shutdown", count=len(left))
            await asyncio.gather(*left, return_exceptions=True)
