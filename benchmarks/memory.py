"""Peak memory while relaykit dispatches a large recipient file, streamed, never held in a list.

Run from the workspace root::

    uv run python benchmarks/memory.py                  # 1,000,000 recipients
    uv run python benchmarks/memory.py -n 100000        # a quicker look at the curve

Writes the recipients as JSON lines to a scratch file, then reads it one line
at a time into ``Relay.anotify`` (``--concurrency`` workers) against the lean
fake endpoint on its own core. Prints the resident set size as it goes and the
peak (``ru_maxrss``) at the end; for contrast, a child process loads the same
file as a list of dicts. Target (issue 7): peak < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from _measure import ServerProcess, pin_client
from _recipients import write_recipients
from _senders import RelaykitSender, quiet_logging

MIB = 1024 * 1024


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MIB
    return 0.0


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB


async def streamed(path: Path, count: int, started: float) -> AsyncIterator[dict[str, Any]]:
    """The file's recipients one at a time, printing memory every tenth of the way."""
    step = max(count // 10, 1)
    with path.open(encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            if index and index % step == 0:
                elapsed = time.perf_counter() - started
                print(
                    f"  {index:>9,} sent  RSS {rss_mib():6.1f} MiB  {index / elapsed:,.0f}/s",
                    flush=True,
                )
            yield json.loads(line)


def dicts_mib(path: Path) -> float:
    """Peak RSS of a fresh interpreter that loads the whole file as a list of dicts."""
    code = (
        "import json,resource,sys;"
        "people=[json.loads(l) for l in open(sys.argv[1], encoding='utf-8')];"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    return int(done.stdout) * 1024 / MIB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    core = pin_client()
    quiet_logging()
    with tempfile.TemporaryDirectory(prefix="relaykit-memory-") as scratch:
        path = Path(scratch) / "recipients.jsonl"
        write_recipients(path, args.n)
        size = path.stat().st_size / MIB
        print(
            f"memory: {args.n:,} recipients in {path.name} ({size:,.0f} MiB), client on core {core}"
        )
        print(f"  as a list of dicts they take {dicts_mib(path):,.0f} MiB peak RSS")
        with ServerProcess("_endpoint.py") as server:
            sender = RelaykitSender(server.url, args.concurrency)
            sender.prepare()
            before = rss_mib()
            print(f"  relay built: RSS {before:.1f} MiB", flush=True)
            started = time.perf_counter()
            sent = sender.run(args.n, streamed(path, args.n, started))
            took = time.perf_counter() - started
    peak = peak_mib()
    print(
        f"\nrelaykit dispatched {sent:,} recipients in {took:,.0f} s ({sent / took:,.0f}/s); "
        f"peak RSS {peak:.0f} MiB = {peak * MIB / 1e6:.0f} MB (target < 200 MB)"
    )


if __name__ == "__main__":
    main()
