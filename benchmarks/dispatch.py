"""Dispatch throughput: relaykit's whole pipeline against the ways people send with Twilio today.

Run from the workspace root (one invocation = several rounds, rotating order, medians)::

    uv run python benchmarks/dispatch.py --latency-ms 0            # the CPU regime
    uv run python benchmarks/dispatch.py --latency-ms 150          # Twilio-like answer times

Every contender posts to the same fake endpoint, running in its own process on
its own core (``taskset``): the lean ``_endpoint.py`` (an asyncio + httptools
server that answers a canned Message resource, optionally after the latency).
Its CPU use is read from /proc and printed, so one can see it is not the
bottleneck. The client pins itself to another core.

Targets (issue 7): latency 0 - relaykit >= 0.7x the SDK's create_async and >= 3x
the sync SDK loop; latency 150 - relaykit >= 0.8x the ideal (concurrency /
latency) and >= 50x the sync SDK loop.
"""

from __future__ import annotations

import argparse
import asyncio

from _measure import Contender, Measurement, ServerProcess, pin_client, print_table, run_rounds
from _profile import profile
from _senders import RelaykitSender, quiet_logging, raw_aiohttp, sdk_async, sdk_sync_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("-n", type=int, default=None, help="messages per contender and round")
    parser.add_argument("--sync-n", type=int, default=None, help="messages for the sync loop")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="then profile relaykit once")
    args = parser.parse_args()
    slow = args.latency_ms > 0
    concurrency = args.concurrency or (64 if slow else 32)
    count = args.n or (2000 if slow else 5000)
    sync_count = args.sync_n or (20 if slow else 1000)

    core = pin_client()
    quiet_logging()
    with ServerProcess("_endpoint.py", "--latency-ms", str(args.latency_ms)) as server:
        print(
            f"dispatch: latency {args.latency_ms:g} ms, concurrency {concurrency}, n {count} "
            f"(sync loop {sync_count}), {args.rounds} rounds; endpoint {server.url} on core "
            f"{server.core}, client on core {core}",
            flush=True,
        )
        relaykit = RelaykitSender(server.url, concurrency)
        contenders = [
            Contender("relaykit", relaykit.run, count, relaykit.prepare),
            Contender(
                "SDK create_async",
                lambda n: asyncio.run(sdk_async(server.url, n, concurrency)),
                count,
            ),
            Contender(
                "raw aiohttp", lambda n: asyncio.run(raw_aiohttp(server.url, n, concurrency)), count
            ),
            Contender("SDK sync loop", lambda n: sdk_sync_loop(server.url, n), sync_count),
        ]
        results = run_rounds(contenders, args.rounds, server)
    print()
    print_table(results)
    _ratios(results, slow, concurrency, args.latency_ms)
    if args.profile:
        with ServerProcess("_endpoint.py", "--latency-ms", str(args.latency_ms)) as server:
            relaykit = RelaykitSender(server.url, concurrency)
            relaykit.prepare()
            profile(lambda: relaykit.run(count), count)


def _ratios(results: dict[str, Measurement], slow: bool, concurrency: int, latency: float) -> None:
    rk = results["relaykit"]
    sdk = results["SDK create_async"]
    raw = results["raw aiohttp"]
    loop = results["SDK sync loop"]
    print()
    if slow:
        ideal = concurrency / (latency / 1000)
        print(f"ideal (concurrency / latency)  {ideal:,.0f}/s")
        print(f"relaykit / ideal               {rk.rate / ideal:.2f}x   (target >= 0.8x)")
        print(f"relaykit / SDK sync loop       {rk.rate / loop.rate:.1f}x   (target >= 50x)")
        print(f"relaykit / SDK create_async    {rk.rate / sdk.rate:.2f}x")
    else:
        print(f"relaykit / SDK create_async    {rk.rate / sdk.rate:.2f}x   (target >= 0.7x)")
        print(f"relaykit / SDK sync loop       {rk.rate / loop.rate:.1f}x   (target >= 3x)")
    print(f"raw aiohttp / SDK create_async {raw.rate / sdk.rate:.2f}x")
    print(f"raw aiohttp / SDK sync loop    {raw.rate / loop.rate:.1f}x")
    own = rk.client_us_per_message - sdk.client_us_per_message
    print(
        f"client CPU per message: relaykit {rk.client_us_per_message:.0f} us, SDK create_async "
        f"{sdk.client_us_per_message:.0f} us -> relaykit's own work ~{own:.0f} us/message"
    )
    busiest = max(m.server_load for m in results.values())
    fastest = max(results.values(), key=lambda m: m.rate)
    capacity = fastest.count / max(fastest.server_cpu_s, 0.01)
    print(
        f"endpoint: at most {busiest:.2f} of a core busy; ~{capacity:,.0f} requests per CPU-second"
        f" ({capacity / fastest.rate:.1f}x the fastest client; /proc counts 10 ms ticks)"
    )


if __name__ == "__main__":
    main()
