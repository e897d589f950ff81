"""Broadcasts started from synchronous code: each runs on a thread of its own.

The synchronous :class:`~relaykit.delivery.relay.Relay` runs coroutines on a
private event loop that only turns while a call is in progress, and the
relay's connectors and group committer belong to that loop. A broadcast that
must go on after ``broadcast()`` returns therefore gets its own thread with
its own event loop and its own relay over the same settings and database:
its own connectors and group committer, as a second process would have. The
database is the only thing the two share (SQLite serialises the writers with
``BEGIN IMMEDIATE``; rate buckets are in the database), so status and cancel
work from either side.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from relaykit.delivery.broadcast import BroadcastRun, Recipients, open_broadcast
from relaykit.host import ConnectorHost
from relaykit.logs import get_logger
from relaykit.plugins import build_plugin_host

if TYPE_CHECKING:
    from relaykit.delivery.relay import Relay

__all__ = ["BackgroundBroadcasts"]

log = get_logger("relaykit.broadcast")


class BackgroundBroadcasts:
    """The broadcasts a synchronous relay started, each on its own thread."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self._threads: dict[str, tuple[threading.Thread, list[Any]]] = {}

    def start(
        self,
        tenant: str,
        event: str,
        recipients: Recipients,
        data: Mapping[str, Any] | None,
        key: str | None,
        deadline: float | None,
    ) -> str:
        """Open the broadcast here (its errors raise in the caller), run it on a thread."""
        broadcast, created = open_broadcast(self.relay, tenant, event, data, key, deadline)
        runs: list[Any] = []
        thread = threading.Thread(
            target=self._work,
            args=(broadcast, created, recipients, runs),
            name=f"relaykit-broadcast-{broadcast.id}",
            daemon=True,
        )
        self._threads[broadcast.id] = (thread, runs)
        thread.start()
        return broadcast.id

    def _work(self, broadcast: Any, created: bool, recipients: Recipients, runs: list[Any]) -> None:
        parent = self.relay
        host = ConnectorHost.from_settings(parent.host.settings, plugins=build_plugin_host())
        relay = type(parent).from_host(host, retry=parent.dispatcher.retry, inline=parent.inline)
        run = BroadcastRun(relay, broadcast, resumed=not created)

        async def go() -> None:
            runs.append((run, asyncio.get_running_loop()))
            try:
                await run.run(recipients)
            finally:
                await relay.aclose()

        try:
            asyncio.run(go())
        except Exception:
            log.exception("broadcast_crashed", broadcast=broadcast.id)

    def join(self, broadcast_id: str, timeout: float | None = None) -> bool:
        """Wait for a background broadcast's thread; True once it has ended."""
        entry = self._threads.get(broadcast_id)
        if entry is None:
            return True
        entry[0].join(timeout)
        return not entry[0].is_alive()

    def close(self) -> None:
        """Stop every running broadcast (attempts in flight finish and commit), and wait."""
        for thread, runs in self._threads.values():
            for run, loop in runs:
                # the run's loop is another thread's: stop it there (unless it has ended)
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(run.stop)
            thread.join()
        self._threads.clear()
