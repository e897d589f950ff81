"""Dispatch throughput: relaykit's whole pipeline against the ways people send with Twilio today.

Run from the workspace root (one invocation = several rounds, rotating order, medians)::

    uv run python benchmarks/dispatch.py --latency-ms 0            # the CPU regime
    uv run python benchmarks/dispatch.py --latency-ms 150          # Twilio-like answer times

Every contender posts to the same fake endpoint, running in its own process on
its own core (``taskset``): the lean ``_endpoint.py`` (an asyncio + httptools
server that answers a canned Message resource, optionally after the latency).
Its CPU use is read from /proc and printed, so one can see it is not the
bottleneck; its message counter is read before and after every run, so a
contender's run counts only if every message it reported as sent arrived. The
client pins itself to another core.

Contenders: relaykit, the twilio SDK's ``create_async`` and raw aiohttp (all at
``--concurrency``), the sync SDK loop, and Apprise's Twilio plugin unthrottled,
one message after another (per message, and one notify to N targets).
``--concurrency`` takes several values (the 150 ms mode runs 64 and 256): the
concurrent contenders run at each, the sequential ones once.

Targets (issue 11): latency 0, concurrency 32 - relaykit >= 0.7x the SDK's
create_async, >= 3x Apprise unthrottled, framework CPU <= 150 us per message
(relaykit's client CPU minus create_async's); latency 150 - relaykit >= 0.9x the
ideal (concurrency / latency) at concurrency 64 and at 256.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable

from _measure import Contender, Measurement, ServerProcess, pin_client, print_table, run_rounds
from _profile import profile
from _senders import (
    RelaykitSender,
    apprise_n_targets,
    apprise_per_message,
    endpoint_stats,
    quiet_logging,
    raw_aiohttp,
    sdk_async,
    sdk_sync_loop,
    warm_apprise,
)

#: Issue 11's targets.
SDK_RATIO = 0.7
APPRISE_RATIO = 3.0
FRAMEWORK_US = 150.0
IDEAL_RATIO = 0.9
APPRISE = ("Apprise per message", "Apprise N targets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "-n", type=int, default=None, help="messages per concurrent contender and round"
    )
    parser.add_argument(
        "--sync-n", type=int, default=None, help="messages for the sync loop and Apprise"
    )
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=None, help="one or more (default 32; 64 256)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="0 with --profile: profile only")
    parser.add_argument("--profile", action="store_true", help="then profile relaykit once")
    args = parser.parse_args()
    slow = args.latency_ms > 0
    concurrencies = args.concurrency or ([64, 256] if slow else [32])
    sync_count = args.sync_n or (20 if slow else 1000)

    core = pin_client()
    quiet_logging()
    print(f"load average at start: {_load()}", flush=True)
    with ServerProcess("_endpoint.py", "--latency-ms", str(args.latency_ms)) as server:

        def arrived() -> int:
            stats = endpoint_stats(server.url)
            if stats["refused"]:
                raise RuntimeError(f"the endpoint refused {stats['refused']} requests")
            return stats["created"]

        for index, concurrency in enumerate(concurrencies if args.rounds else []):
            count = args.n or (max(2000, 16 * concurrency) if slow else 5000)
            sequential = index == 0
            print(
                f"\ndispatch: latency {args.latency_ms:g} ms, concurrency {concurrency}, n {count}"
                + (f" (sync loop and Apprise {sync_count})" if sequential else "")
                + f", {args.rounds} rounds; endpoint {server.url} on core {server.core},"
                f" client on core {core}",
                flush=True,
            )
            contenders = _contenders(server.url, concurrency, count, arrived)
            if sequential:
                contenders += _sequential(server.url, sync_count, arrived)
            results = run_rounds(contenders, args.rounds, server)
            print()
            print_table(results)
            _ratios(results, args.latency_ms, concurrency)
    print(f"\nload average at end: {_load()}")
    if args.profile:
        with ServerProcess("_endpoint.py", "--latency-ms", str(args.latency_ms)) as server:
            relaykit = RelaykitSender(server.url, concurrencies[0])
            relaykit.prepare()
            count = args.n or 5000
            profile(lambda: relaykit.run(count), count)


def _contenders(
    url: str, concurrency: int, count: int, arrived: Callable[[], int]
) -> list[Contender]:
    relaykit = RelaykitSender(url, concurrency)
    return [
        Contender("relaykit", relaykit.run, count, relaykit.prepare, arrived),
        Contender(
            "SDK create_async",
            lambda n: asyncio.run(sdk_async(url, n, concurrency)),
            count,
            arrived=arrived,
        ),
        Contender(
            "raw aiohttp",
            lambda n: asyncio.run(raw_aiohttp(url, n, concurrency)),
            count,
            arrived=arrived,
        ),
    ]


def _sequential(url: str, count: int, arrived: Callable[[], int]) -> list[Contender]:
    return [
        Contender("SDK sync loop", lambda n: sdk_sync_loop(url, n), count, arrived=arrived),
        Contender(APPRISE[0], lambda n: apprise_per_message(url, n), count, warm_apprise, arrived),
        Contender(APPRISE[1], lambda n: apprise_n_targets(url, n), count, warm_apprise, arrived),
    ]


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _ratios(results: dict[str, Measurement], latency: float, concurrency: int) -> None:
    rk = results["relaykit"]
    sdk = results["SDK create_async"]
    raw = results["raw aiohttp"]
    print()
    if latency > 0:
        ideal = concurrency / (latency / 1000)
        ratio = rk.rate / ideal
        print(f"ideal (concurrency / latency)  {ideal:,.0f}/s")
        pool = min(concurrency, 100) / (latency / 1000)
        print(
            f"100-connection pool            {pool:,.0f}/s at most: the SDK's create_async"
            " (aiohttp's default pool); relaykit's instance has max_connections ="
            f" {max(100, concurrency)}"
        )
        print(
            f"relaykit / ideal               {ratio:.2f}x   at concurrency {concurrency}"
            f" (target >= {IDEAL_RATIO}x: {_verdict(ratio >= IDEAL_RATIO)})"
        )
        print(f"relaykit / SDK create_async    {rk.rate / sdk.rate:.2f}x")
    else:
        ratio = rk.rate / sdk.rate
        print(
            f"relaykit / SDK create_async    {ratio:.2f}x   "
            f"(target >= {SDK_RATIO}x: {_verdict(ratio >= SDK_RATIO)})"
        )
    if "SDK sync loop" in results:
        print(f"relaykit / SDK sync loop       {rk.rate / results['SDK sync loop'].rate:.1f}x")
    apprise = [results[name] for name in APPRISE if name in results]
    if apprise:
        for name in APPRISE:
            print(f"relaykit / {name:<19} {rk.rate / results[name].rate:.2f}x")
        ratio = rk.rate / max(m.rate for m in apprise)
        target = (
            f"(target >= {APPRISE_RATIO}x: {_verdict(ratio >= APPRISE_RATIO)})"
            if latency == 0
            else "(no target at this latency)"
        )
        print(f"relaykit / Apprise (faster)    {ratio:.2f}x   {target}")
    print(f"raw aiohttp / SDK create_async {raw.rate / sdk.rate:.2f}x")
    own = rk.client_us_per_message - sdk.client_us_per_message
    target = (
        f"target <= {FRAMEWORK_US:.0f} us: {_verdict(own <= FRAMEWORK_US)}"
        if latency == 0
        else f"the target, <= {FRAMEWORK_US:.0f} us, is set at latency 0"
    )
    print(
        f"relaykit framework CPU per message ~{own:.0f} us ({target}) = relaykit's client CPU"
        f" {rk.client_us_per_message:.0f} us - SDK create_async's {sdk.client_us_per_message:.0f}"
        " us"
    )
    busiest = max(m.server_load for m in results.values())
    fastest = max(results.values(), key=lambda m: m.rate)
    capacity = fastest.count / max(fastest.server_cpu_s, 0.01)
    print(
        f"endpoint: at most {busiest:.2f} of a core busy; ~{capacity:,.0f} requests per CPU-second"
        f" ({capacity / fastest.rate:.1f}x the fastest client; /proc counts 10 ms ticks)"
    )


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min; 2 cores shared)"


if __name__ == "__main__":
    main()
