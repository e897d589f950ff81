"""Live "Connected" status of each instance, for ``GET /v1/connectors``.

``authenticate`` calls the provider, so a result is kept for a short while
and concurrent requests for the same instance share one check. A check is
:func:`relaykit.delivery.reload.recheck`: accepted credentials clear the
engine's "not connected" mark, so new messages use it again (issue 6: a
re-check brings it back).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relaykit.delivery import Relay
from relaykit.delivery.reload import recheck
from relaykit.results import ConnectionState, ConnectionStatus

__all__ = ["DEFAULT_TTL_S", "ConnectionCache"]

DEFAULT_TTL_S = 30.0
#: An authenticate call that takes longer counts as "unreachable".
CHECK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class _Checked:
    status: ConnectionStatus
    checked_at: datetime
    monotonic: float


class ConnectionCache:
    """``authenticate`` results per instance, reused for ``ttl_s`` seconds."""

    def __init__(self, relay: Relay, ttl_s: float = DEFAULT_TTL_S) -> None:
        self._relay = relay
        self._ttl_s = ttl_s
        self._results: dict[str, _Checked] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self) -> None:
        """Drop every kept result (the instances were rebuilt): the next request checks anew."""
        self._results.clear()

    async def status(self, label: str) -> dict[str, Any]:
        """The instance's connection report (checked now, or at most ``ttl_s`` ago)."""
        lock = self._locks.setdefault(label, asyncio.Lock())
        async with lock:
            cached = self._results.get(label)
            fresh = cached is not None and time.monotonic() - cached.monotonic < self._ttl_s
            if cached is None or not fresh:
                cached = self._results[label] = await self._check(label)
        config = self._relay.host.configs[label]
        health = self._relay.health
        return {
            "instance": config.name,
            "label": label,
            "connector": config.connector,
            "connected": cached.status.connected,
            "state": cached.status.state.value,
            "detail": cached.status.detail,
            "checked_at": cached.checked_at.isoformat(),
            "skipped_by_delivery": health.is_down(label),
            "skip_reason": health.reason(label) or None,
        }

    async def _check(self, label: str) -> _Checked:
        try:
            checked = await asyncio.wait_for(recheck(self._relay, [label]), CHECK_TIMEOUT_S)
            status = checked[label]
        except TimeoutError:
            status = ConnectionStatus(
                ConnectionState.UNREACHABLE,
                f"the provider did not answer the check within {CHECK_TIMEOUT_S:.0f} s",
            )
        return _Checked(status, datetime.now(UTC), time.monotonic())
