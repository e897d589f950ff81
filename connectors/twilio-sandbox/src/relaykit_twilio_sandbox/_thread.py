"""Running a sandbox on its own event loop in a background thread.

For callers without a running loop of their own that must outlive one test's
loop: session-scoped fixtures (Prism's proxy in front of a sandbox), the
synchronous SDK client, benchmarks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from relaykit_twilio_sandbox._server import TwilioSandbox

__all__ = ["ThreadedSandbox"]

T = TypeVar("T")


class ThreadedSandbox:
    """``with ThreadedSandbox(TwilioSandbox()) as sb:`` serves ``sb`` from a background thread.

    Read ``sb.messages`` and friends freely; run coroutines such as
    ``sb.settle()`` or ``sb.simulate_inbound(...)`` through :meth:`call`.
    """

    def __init__(self, sandbox: TwilioSandbox | None = None) -> None:
        self.sandbox = sandbox or TwilioSandbox()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="twilio-sandbox", daemon=True
        )

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the sandbox's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> TwilioSandbox:
        self._thread.start()
        self.call(self.sandbox.start())
        return self.sandbox

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.call(self.sandbox.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
