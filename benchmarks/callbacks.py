"""Signed Twilio status callbacks per second: ``relaykit serve`` against a bare verifying endpoint.

Run from the workspace root::

    uv run python benchmarks/callbacks.py [--messages 2000] [--rounds 3] [--concurrency 32]
    uv run python benchmarks/callbacks.py --rounds 0 --profile   # where the server's time goes

Each round starts each server fresh in its own process, pinned to its own core,
under uvicorn with one worker (``_callback_server.py``):

* ``relaykit serve``: the real app on a relay seeded with ``--messages`` sent
  SMS; every message then gets a signed ``sent`` and ``delivered`` callback
  (verification, dedupe, status update and timeline in the store, logging);
* ``bare verify``: Starlette + uvicorn that only checks the signature.

The client (this process, another core) posts the same signed requests with
aiohttp; signatures are computed before the clock starts. Target (issue 11, as
issue 7's): relaykit >= 0.7x the bare endpoint. The load average is printed at
the start and the end (the machine's cores are shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from _measure import Measurement, ServerProcess, pin_client, print_table
from _senders import ACCOUNT_SID, API_KEY, AUTH_TOKEN, SENDER
from twilio.request_validator import RequestValidator

Signed = tuple[str, bytes, dict[str, str]]


def _requests(base: str, manifest: list[dict[str, str]]) -> list[Signed]:
    """Every message's ``sent`` then ``delivered`` callback, signed over the public URL."""
    validator = RequestValidator(AUTH_TOKEN)
    signed = []
    for status in ("sent", "delivered"):
        for message in manifest:
            url = f"{base}/webhooks/north-high/sms/status?{urlencode({'rk_ref': message['id']})}"
            params = {
                "AccountSid": ACCOUNT_SID,
                "ApiVersion": "2010-04-01",
                "From": SENDER,
                "MessageSid": message["sid"],
                "MessageStatus": status,
                "SmsSid": message["sid"],
                "SmsStatus": status,
                "To": message["to"],
            }
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(url, params),
                "I-Twilio-Idempotency-Token": f"{message['sid']}-{status}",
            }
            signed.append((url, urlencode(params).encode(), headers))
    return signed


async def _post_all(signed: list[Signed], concurrency: int) -> int:
    ok = 0
    pending = iter(signed)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal ok
            for url, body, headers in pending:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    ok += response.status == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


def _round(
    mode: str, messages: int, concurrency: int, profile: bool = False
) -> tuple[Measurement, int]:
    with tempfile.TemporaryDirectory() as scratch:
        manifest_path = Path(scratch) / "manifest.json"
        profile_path = Path(scratch) / "server.prof"
        args = ["--mode", mode, "--seed", str(messages), "--manifest", str(manifest_path)]
        if profile:
            args += ["--profile", str(profile_path)]
        with ServerProcess("_callback_server.py", *args) as server:
            if mode == "relaykit":
                manifest = json.loads(manifest_path.read_text())
            else:
                manifest = [
                    {"id": f"m{i}", "sid": f"SM{i:032x}", "to": f"+1212{2000000 + i:07d}"}
                    for i in range(messages)
                ]
            signed = _requests(server.url, manifest)
            server_before = server.cpu_seconds()
            cpu_before = time.process_time()
            started = time.perf_counter()
            ok = asyncio.run(_post_all(signed, concurrency))
            wall = time.perf_counter() - started
            measurement = Measurement(
                ok, wall, time.process_time() - cpu_before, server.cpu_seconds() - server_before
            )
            if ok != len(signed):
                raise RuntimeError(f"{mode}: {ok} of {len(signed)} callbacks answered 200")
            delivered = _delivered(server.url, mode)
        if profile:
            _print_profile(profile_path, len(signed))
    return measurement, delivered


def _print_profile(path: Path, count: int) -> None:
    """The server's hottest functions, cumulative then own time (cProfile overhead included)."""
    stats = pstats.Stats(str(path))
    print(f"\nprofile of relaykit serve, {count} callbacks (totals, not per callback)")
    stats.sort_stats("cumulative").print_stats(25)
    stats.print_stats("relaykit", 40)
    stats.sort_stats("tottime").print_stats(25)


def _delivered(url: str, mode: str) -> int:
    """How many messages relaykit shows as delivered now (up to 500; -1 for the bare endpoint)."""
    if mode != "relaykit":
        return -1
    asked = urllib.request.Request(
        f"{url}/v1/messages?status=delivered&limit=500",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    with urllib.request.urlopen(asked, timeout=10) as response:
        return len(json.loads(response.read())["messages"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="2 callbacks each")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", action="store_true", help="then profile relaykit once")
    args = parser.parse_args()
    core = pin_client()
    print(f"load average at start: {_load()}", flush=True)
    print(
        f"callbacks: {args.messages * 2} signed status callbacks per round, concurrency "
        f"{args.concurrency}, {args.rounds} rounds; client on core {core}",
        flush=True,
    )
    seen: dict[str, list[Measurement]] = {"relaykit serve": [], "bare verify": []}
    modes = [("relaykit serve", "relaykit"), ("bare verify", "bare")]
    for round_no in range(args.rounds):
        order = modes if round_no % 2 == 0 else modes[::-1]
        for name, mode in order:
            measurement, delivered = _round(mode, args.messages, args.concurrency)
            if delivered not in (-1, min(args.messages, 500)):
                raise RuntimeError(f"relaykit shows {delivered} delivered messages after the run")
            seen[name].append(measurement)
        print(
            f"  round {round_no + 1}/{args.rounds}: "
            + ", ".join(f"{n} {m[-1].rate:,.0f}/s" for n, m in seen.items()),
            flush=True,
        )
    if args.profile:
        _round("relaykit", args.messages, args.concurrency, profile=True)
    if not args.rounds:
        return
    results = {n: sorted(ms, key=lambda m: m.rate)[(len(ms) - 1) // 2] for n, ms in seen.items()}
    print()
    print_table(results, unit="calls/s")
    rk, bare = results["relaykit serve"], results["bare verify"]
    print()
    ratio = rk.rate / bare.rate
    verdict = "met" if ratio >= 0.7 else "MISSED"
    print(f"relaykit serve / bare verify   {ratio:.2f}x   (target >= 0.7x: {verdict})")
    for name, m in results.items():
        print(f"{name}: server CPU {m.server_cpu_s / m.count * 1e6:.0f} us per callback")
    print(f"load average at end: {_load()}")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min; 2 cores shared)"


if __name__ == "__main__":
    main()
