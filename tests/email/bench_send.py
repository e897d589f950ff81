"""Throughput of ``EmailConnector.send`` against the local aiosmtpd sandbox (not a test).

Run: ``uv run python -m tests.email.bench_send [N] [CONCURRENCY]``. The sandbox
runs in its own process, so the figures are the client's, not the sink's.
"""

from __future__ import annotations

import asyncio
import gc
import re
import subprocess
import sys
import threading
import time

from relaykit import Channel, OutboundMessage
from tests.email.conftest import make_connector

MESSAGE = OutboundMessage(
    channel=Channel.EMAIL,
    to="parent@example.org",
    body="Zoë was absent today. Please reply to this message. 👍\n" * 5,
    html_body="<p>Zoë was absent today.</p>",
    subject="Attendance: Zoë 🏫",
    reference="bench",
)


async def main(count: int, concurrency: int) -> None:
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "relaykit_email.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        port = int(re.findall(r":(\d+)$", sandbox.stdout.readline().strip())[0])
        # keep reading its per-message lines, or a full pipe stalls the sandbox
        threading.Thread(target=sandbox.stdout.read, daemon=True).start()
        connector = make_connector(
            {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "n@example.com"}
        )
        await connector.send(MESSAGE)  # warm-up: EHLO name, lazy imports

        gc.collect()
        started = time.perf_counter()
        for _ in range(count):
            connector._composer.compose(MESSAGE)
        compose = (time.perf_counter() - started) / count

        started = time.perf_counter()
        for _ in range(count):
            await connector.send(MESSAGE)
        sequential = count / (time.perf_counter() - started)

        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                await connector.send(MESSAGE)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        parallel = count / (time.perf_counter() - started)
    finally:
        sandbox.terminate()
        sandbox.wait()
    print(f"compose (MIME build + checks, text+html): {compose * 1e6:.0f} µs/message")
    print(f"send, sequential: {sequential:.0f} messages/s (one SMTP connection each)")
    print(f"send, {concurrency} concurrent: {parallel:.0f} messages/s")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [500, 20][len(args) :])))
