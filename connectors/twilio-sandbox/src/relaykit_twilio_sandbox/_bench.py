"""``python -m relaykit_twilio_sandbox._bench``: a quick throughput check of the sandbox.

Starts ``python -m relaykit_twilio_sandbox`` in its own process on a free
loopback port, then drives it from this process with concurrent aiohttp
workers: account fetches, then message creates. Bounded in count; it stops
the server when done.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import aiohttp

from relaykit_twilio_sandbox._accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SMS_NUMBER,
)


async def _drive(url: str, kind: str, total: int, concurrency: int) -> float:
    auth = {"Authorization": aiohttp.encode_basic_auth(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)}
    account = f"{url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}"
    form = {"To": "+15551230001", "From": DEFAULT_SMS_NUMBER, "Body": "hello"}
    per_worker = total // concurrency
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=auth, connector=connector) as session:

        async def worker() -> None:
            for _ in range(per_worker):
                if kind == "create":
                    request = session.post(f"{account}/Messages.json", data=form)
                else:
                    request = session.get(f"{account}.json")
                async with request as response:
                    await response.read()
                    if response.status >= 300:
                        raise RuntimeError(f"{kind} answered {response.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return per_worker * concurrency / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relaykit_twilio_sandbox._bench")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    server = subprocess.Popen(
        [sys.executable, "-m", "relaykit_twilio_sandbox", "--port", "0", "--callback-delay", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().rsplit(" ", 1)[-1].strip()
        for kind in ("fetch", "create"):
            rate = asyncio.run(_drive(url, kind, args.requests, args.concurrency))
            workers = args.concurrency
            print(f"{kind}: {rate:,.0f} req/s ({args.requests} requests, {workers} workers)")
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


if __name__ == "__main__":
    main()
