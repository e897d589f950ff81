"""Measuring contenders fairly: rounds in rotating order, medians, client and server CPU.

The server runs in its own process, pinned with ``taskset`` to a core of its
own when the machine has two or more; its CPU time comes from
``/proc/<pid>/stat``. The client pins itself to another core.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Contender",
    "Measurement",
    "ServerProcess",
    "pin_client",
    "print_table",
    "run_rounds",
]

_TICKS = os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent
#: The cores this process may use, read once before the client pins itself to the first.
CORES = sorted(os.sched_getaffinity(0))


def pin_client() -> int | None:
    """Pin this process to the first allowed core (servers get the last); the core or None."""
    if len(CORES) < 2:
        return None
    os.sched_setaffinity(0, {CORES[0]})
    return CORES[0]


class ServerProcess:
    """A server script run on its own core; it must print ``listening on URL`` first."""

    def __init__(self, script: str, *args: str) -> None:
        command = [sys.executable, str(HERE / script), *args]
        self.core = CORES[-1] if len(CORES) > 1 else None
        if self.core is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(self.core), *command]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on " not in line:
            self.process.kill()
            raise RuntimeError(f"{script} did not start: {line!r}")
        self.url = line.split("listening on ", 1)[1].strip()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Measurement:
    """One round of one contender."""

    count: int
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.count / self.wall_s

    @property
    def client_us_per_message(self) -> float:
        return self.client_cpu_s / self.count * 1e6

    @property
    def server_load(self) -> float:
        """The server's CPU use while it ran, in cores (1.0 = one core saturated)."""
        return self.server_cpu_s / self.wall_s


@dataclass(frozen=True)
class Contender:
    """A named way to send ``count`` messages; ``run(count)`` returns how many were accepted.

    :ivar prepare: called before each timed run, untimed (e.g. building a fresh relay).
    :ivar arrived: how many messages the endpoint has taken so far (read untimed, before and
        after the run): a run counts only if every message it reports as accepted arrived.
    """

    name: str
    run: Callable[[int], int]
    count: int
    prepare: Callable[[], None] | None = None
    arrived: Callable[[], int] | None = None


def measure(contender: Contender, server: ServerProcess | None) -> Measurement:
    if contender.prepare is not None:
        contender.prepare()
    arrived_before = contender.arrived() if contender.arrived is not None else 0
    server_before = server.cpu_seconds() if server else 0.0
    cpu_before = time.process_time()
    started = time.perf_counter()
    accepted = contender.run(contender.count)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    server_cpu = (server.cpu_seconds() - server_before) if server else 0.0
    if accepted != contender.count:
        raise RuntimeError(f"{contender.name}: {accepted} of {contender.count} accepted")
    if contender.arrived is not None:
        arrived = contender.arrived() - arrived_before
        if arrived != accepted:
            raise RuntimeError(f"{contender.name}: {accepted} accepted, {arrived} arrived")
    return Measurement(accepted, wall, cpu, server_cpu)


def run_rounds(
    contenders: Sequence[Contender], rounds: int, server: ServerProcess | None
) -> dict[str, Measurement]:
    """Every contender once per round, the order rotating; the median round of each."""
    seen: dict[str, list[Measurement]] = {c.name: [] for c in contenders}
    for round_no in range(rounds):
        shift = round_no % len(contenders)
        for contender in [*contenders[shift:], *contenders[:shift]]:
            seen[contender.name].append(measure(contender, server))
        print(
            f"  round {round_no + 1}/{rounds}: "
            + ", ".join(f"{n} {m[-1].rate:,.0f}/s" for n, m in seen.items()),
            flush=True,
        )
    return {name: _median(ms) for name, ms in seen.items()}


def _median(measurements: list[Measurement]) -> Measurement:
    ordered = sorted(measurements, key=lambda m: m.rate)
    return ordered[(len(ordered) - 1) // 2]  # the middle one; the lower middle for an even count


def print_table(results: dict[str, Measurement], unit: str = "msgs/s") -> None:
    width = max(len(n) for n in results) + 2
    print(f"{'contender':<{width}} {unit:>10} {'client CPU':>13} {'server load':>12} {'n':>7}")
    for name, m in results.items():
        print(
            f"{name:<{width}} {m.rate:>10,.0f} {m.client_us_per_message:>10.0f} us"
            f" {m.server_load:>9.2f} core {m.count:>7}"
        )
