"""Mass alerts: the real ``relaykit broadcast`` command against the SDK's create_async, and its RSS.

Run from the workspace root (one invocation = every latency, ``--rounds`` rounds each)::

    uv run python benchmarks/broadcast.py -n 100000                 # latency 0 and 150 ms
    uv run python benchmarks/broadcast.py -n 1000000 --latency-ms 0 # the targets' N
    uv run python benchmarks/broadcast.py -n 100000 --latency-ms 0 --rounds 0 --py-spy

Writes N recipients (distinct valid mobile numbers, and an email address) as JSON
lines to a scratch file, one at a time, and a ``relaykit.toml`` for one tenant
whose Twilio instance points at the lean fake endpoint (``_endpoint.py``, on its
own core) with its rate limit set far above the rate reached. Then runs the
command an integrator runs, as a child process::

    python -m relaykit --config relaykit.toml broadcast north-high emergency_alert \\
        --recipients recipients.jsonl --data '{...}' --key <key> --json

with the venv's own interpreter (``sys.executable``; ``uv run relaykit`` would add
uv's start-up to the timing), a fresh data directory (SQLite store) per round.
Measured: the command's wall time, the time from its start to the endpoint's
last 201, its CPU time and its peak RSS (``ru_maxrss`` from ``wait4``; the RSS
curve from ``/proc`` as it goes). In the same run, against the same endpoint,
the SDK's ``create_async`` alone at the same concurrency (``[delivery]
concurrency``: 32 at latency 0, 256 at 150 ms, or ``--concurrency``; the SDK's
connection pool as large) is the baseline.

Checked, untimed, every round: the command exited 0; the endpoint answered 201
exactly N times, to N distinct numbers (each recipient exactly once), and
refused nothing; the JSON summary's counts (from the store) say N sent, none
failed. ``--rerun`` then runs the same command again on the same store: it must
send nothing. ``--profile`` (cProfile, the main thread) and ``--py-spy`` (every
thread, sampled from outside) profile one more run at the first latency.

Targets (issue 13): at 1,000,000 recipients peak RSS < 150 MB and >= 0.6x the
SDK's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _child import ChildRun, run_measured
from _measure import ServerProcess, pin_client
from _profile import report
from _pyspy import available, record_command, summarize
from _recipients import write_recipients
from _senders import ACCOUNT_SID, AUTH_TOKEN, SENDER, endpoint_stats, sdk_async

PY_SPY_RATE = 250  # samples per second
#: Issue 13's targets.
SDK_RATIO = 0.6
RSS_TARGET_MB = 150.0
TARGET_N = 1_000_000

TENANT = "north-high"
EVENT = "emergency_alert"
DATA = {
    "school_name": "North High School",
    "alert_message": "The school is closed today because of a power outage.",
    "instructions": "Students should stay home; classes resume tomorrow.",
}
KEY = "alert-1"
MIB = 1024 * 1024
#: The instance's bucket: a real limiter, refilled far faster than any rate reached here.
RATE_PER_SECOND = 100_000
BURST = 10_000
#: ``[delivery] concurrency`` (and the SDK's) unless ``--concurrency``: relaykit's default at
#: latency 0; at 150 ms as many as an integrator would raise it to (dispatch.py's 256)
CONCURRENCY = 32
CONCURRENCY_AT_LATENCY = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="recipients")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 150.0])
    parser.add_argument("--rounds", type=int, default=1, help="0: only --profile / --py-spy")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="the broadcast's and the SDK's (32; 256)"
    )
    parser.add_argument(
        "--sdk-n", type=int, default=None, help="messages for the SDK (default min(N, 50,000))"
    )
    parser.add_argument("--rerun", action="store_true", help="then the same command again")
    parser.add_argument("--profile", action="store_true", help="then the command under cProfile")
    parser.add_argument("--py-spy", action="store_true", help="then the command under py-spy")
    parser.add_argument("--gil", action="store_true", help="py-spy: only the GIL's holder")
    parser.add_argument("--profile-out", type=Path, default=None, help="keep the profile here")
    args = parser.parse_args()
    core = pin_client()  # the child inherits the affinity: the command runs on this core too
    print(f"load average at start: {_load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="relaykit-broadcast-") as scratch_dir:
        scratch = Path(scratch_dir)
        recipients = scratch / "recipients.jsonl"
        write_recipients(recipients, args.n)
        size = recipients.stat().st_size / MIB
        print(f"broadcast: {args.n:,} recipients in {recipients.name} ({size:,.0f} MiB)")
        print(f"  the command: {sys.executable} -m relaykit ... (the venv's python, not uv run)")
        for latency in args.latency_ms if args.rounds else []:
            bench = Bench(scratch, recipients, args.n, latency, args.concurrency)
            bench.run(args.rounds, args.sdk_n or min(args.n, 50_000), core, rerun=args.rerun)
        for py_spy in [False] * args.profile + [True] * args.py_spy:
            bench = Bench(scratch, recipients, args.n, args.latency_ms[0], args.concurrency)
            bench.profile(py_spy, gil=args.gil, keep=args.profile_out)
    print(f"\nload average at end: {_load()}")


@dataclass(frozen=True)
class Round:
    """One contender's round: ``count`` sent in ``wall_s``; CPU and RSS of whoever sent them."""

    count: int
    wall_s: float
    cpu_s: float
    server_cpu_s: float
    peak_rss_bytes: int = 0
    to_last_send_s: float = 0.0
    summary: str = ""
    log_bytes: int = 0

    @property
    def rate(self) -> float:
        return self.count / self.wall_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.count * 1e6


class Bench:
    """The broadcast and the SDK at one latency, against one endpoint."""

    def __init__(
        self, scratch: Path, recipients: Path, count: int, latency: float, concurrency: int | None
    ) -> None:
        self.scratch = scratch
        self.recipients = recipients
        self.count = count
        self.latency = latency
        self.concurrency = concurrency or (CONCURRENCY_AT_LATENCY if latency else CONCURRENCY)
        self._rounds = 0
        self._data_dir = scratch  # the last round's, for --rerun

    def run(self, rounds: int, sdk_count: int, core: int | None, *, rerun: bool) -> None:
        with ServerProcess(
            "_endpoint.py", "--latency-ms", str(self.latency), "--distinct"
        ) as server:
            print(
                f"\nbroadcast: latency {self.latency:g} ms, concurrency {self.concurrency},"
                f" n {self.count:,} (SDK {sdk_count:,}), {rounds} rounds; endpoint {server.url}"
                f" on core {server.core}, client and command on core {core}",
                flush=True,
            )
            contenders: list[tuple[str, Callable[[], Round]]] = [
                ("relaykit broadcast", lambda: self._broadcast(server)),
                ("SDK create_async", lambda: self._sdk(server, sdk_count)),
            ]
            # untimed: the SDK's imports and first connections
            asyncio.run(sdk_async(server.url, 50, self.concurrency, pool=self.concurrency))
            seen: dict[str, list[Round]] = {name: [] for name, _ in contenders}
            for round_no in range(rounds):
                shift = round_no % len(contenders)
                for name, run in [*contenders[shift:], *contenders[:shift]]:
                    seen[name].append(run())
                print(
                    f"  round {round_no + 1}/{rounds}: "
                    + ", ".join(f"{n} {r[-1].rate:,.0f}/s" for n, r in seen.items()),
                    flush=True,
                )
            if rerun:
                self._rerun(server)
        medians = {
            name: sorted(rs, key=lambda r: r.rate)[(len(rs) - 1) // 2] for name, rs in seen.items()
        }
        self._print(medians["relaykit broadcast"], medians["SDK create_async"])

    def command(self, data_dir: Path, url: str) -> list[str]:
        """The command an integrator runs, with a settings file in ``data_dir``."""
        config = write_config(data_dir, url, self.concurrency)
        return [
            sys.executable, "-m", "relaykit", "--config", str(config),
            "broadcast", TENANT, EVENT,
            "--recipients", str(self.recipients),
            "--data", json.dumps(DATA),
            "--key", KEY,
            "--json",
        ]  # fmt: skip

    def _broadcast(self, server: ServerProcess) -> Round:
        self._rounds += 1
        self._data_dir = self.scratch / f"round-{self.latency:g}-{self._rounds}"
        command = self.command(self._data_dir, server.url)
        before = _reset(server.url)
        server_before = server.cpu_seconds()
        run = run_measured(
            command, env=_child_env(), on_sample=_progress(server.url, before, self.count)
        )
        server_cpu = server.cpu_seconds() - server_before
        after = endpoint_stats(server.url)
        if run.returncode != 0:
            raise RuntimeError(run.failure())
        _check_arrivals("relaykit broadcast", before, after, self.count)
        summary = _check_summary(run, self.count)
        return Round(
            count=self.count,
            wall_s=run.wall_s,
            cpu_s=run.cpu_s,
            server_cpu_s=server_cpu,
            peak_rss_bytes=run.peak_rss_bytes,
            to_last_send_s=after["last_at"] - run.started,
            summary=summary,
            log_bytes=run.stderr_bytes,
        )

    def _sdk(self, server: ServerProcess, count: int) -> Round:
        before = _reset(server.url)
        server_before = server.cpu_seconds()
        cpu_before = time.process_time()
        started = time.perf_counter()
        sent = asyncio.run(sdk_async(server.url, count, self.concurrency, pool=self.concurrency))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        server_cpu = server.cpu_seconds() - server_before
        if sent != count:
            raise RuntimeError(f"SDK create_async: {sent} of {count} sent")
        _check_arrivals("SDK create_async", before, endpoint_stats(server.url), count)
        return Round(count=count, wall_s=wall, cpu_s=cpu, server_cpu_s=server_cpu)

    def _rerun(self, server: ServerProcess) -> None:
        """The same command on the same store: the broadcast's key says it is done."""
        before = _reset(server.url)
        run = run_measured(self.command(self._data_dir, server.url), env=_child_env())
        after = endpoint_stats(server.url)
        if run.returncode != 0:
            raise RuntimeError(run.failure())
        sent_again = after["created"] - before["created"]
        if sent_again or after["refused"] != before["refused"]:
            raise RuntimeError(f"the re-run sent {sent_again} messages again")
        print(
            f"  re-run of the same command on the same store: sent nothing again"
            f" ({run.wall_s:,.1f} s, peak RSS {run.peak_rss_bytes / 1e6:,.0f} MB);"
            f" its summary: {_compact(run.stdout)}",
            flush=True,
        )

    def profile(self, py_spy: bool, *, gil: bool = False, keep: Path | None = None) -> None:
        """The command once under cProfile (its main thread) or py-spy (every thread)."""
        with ServerProcess(
            "_endpoint.py", "--latency-ms", str(self.latency), "--distinct"
        ) as server:
            command = self.command(self.scratch / "profile", server.url)
            stats_file = self.scratch / "broadcast.prof"
            if py_spy:
                executable = available()
                if executable is None:
                    raise SystemExit("--py-spy: py-spy is not installed (uv tool install py-spy)")
                command = record_command(executable, command, stats_file, PY_SPY_RATE, gil=gil)
            else:
                command[1:3] = ["-m", "cProfile", "-o", str(stats_file), "-m", "relaykit"]
            before = _reset(server.url)
            run = run_measured(command, env=_child_env())
            if run.returncode != 0:
                raise RuntimeError(run.failure())
            _check_arrivals(
                "relaykit broadcast (profiled)", before, endpoint_stats(server.url), self.count
            )
        tool = "cProfile (main thread only)"
        if py_spy:
            tool = "py-spy (the GIL's holder only)" if gil else "py-spy (every running thread)"
        print(
            f"\nprofiled: latency {self.latency:g} ms, {self.count:,} recipients in"
            f" {run.wall_s:,.1f} s under {tool}; {run.cpu_s / self.count * 1e6:,.0f} us of CPU"
            " per recipient in all"
        )
        if keep is not None:
            shutil.copyfile(stats_file, keep)
        if py_spy:
            summarize(stats_file, PY_SPY_RATE, self.count)
        else:
            report(pstats.Stats(str(stats_file)), self.count)

    def _print(self, broadcast: Round, sdk: Round) -> None:
        ratio = broadcast.rate / sdk.rate
        to_last = self.count / broadcast.to_last_send_s
        peak_mb = broadcast.peak_rss_bytes / 1e6
        print()
        print(
            f"{'contender':<34} {'msgs/s':>9} {'CPU per msg':>12} {'peak RSS':>10} {'endpoint':>10}"
        )
        print(
            f"{'relaykit broadcast (command wall)':<34} {broadcast.rate:>9,.0f}"
            f" {broadcast.cpu_us:>9,.0f} us {peak_mb:>7,.0f} MB"
            f" {broadcast.server_cpu_s / broadcast.wall_s:>5.2f} core"
        )
        print(f"{'  start to the last send':<34} {to_last:>9,.0f}")
        print(
            f"{'SDK create_async':<34} {sdk.rate:>9,.0f} {sdk.cpu_us:>9,.0f} us {'':>10}"
            f" {sdk.server_cpu_s / sdk.wall_s:>5.2f} core"
        )
        print()
        print(
            f"relaykit broadcast / SDK create_async  {ratio:.3f}x by the command's wall time"
            f" ({to_last / sdk.rate:.3f}x start to last send; target >= {SDK_RATIO}x:"
            f" {_verdict(ratio >= SDK_RATIO)})"
        )
        at = "" if self.count >= TARGET_N else f"; this run has {self.count:,}"
        print(
            f"peak RSS of the broadcast process     {peak_mb:,.0f} MB = {peak_mb * 1e6 / MIB:,.0f}"
            f" MiB (target < {RSS_TARGET_MB:.0f} MB at {TARGET_N:,}{at}:"
            f" {_verdict(peak_mb < RSS_TARGET_MB)})"
        )
        print(
            f"relaykit's own CPU per recipient      ~{broadcast.cpu_us - sdk.cpu_us:,.0f} us"
            " (the command's CPU per message, start-up included, minus create_async's)"
        )
        print(
            f"the command's log (stderr, info)      {broadcast.log_bytes:,} bytes"
            f" ({broadcast.log_bytes / self.count:,.1f} per recipient)"
        )
        print(
            f"every recipient exactly once          {self.count:,} answered 201 to"
            f" {self.count:,} distinct numbers, none refused; the summary: {broadcast.summary}"
        )


def write_config(data_dir: Path, url: str, concurrency: int) -> Path:
    """A settings file for one tenant whose SMS goes to ``url``, in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "relaykit.toml"
    path.write_text(
        f"""\
data_dir = {json.dumps(str(data_dir / "store"))}

[log]
format = "json"
level = "info"

[delivery]
concurrency = {concurrency}

[tenants.{TENANT}]
display_name = "North High School"

[tenants.{TENANT}.instances.sms]
connector = "twilio"
rate_per_second = {RATE_PER_SECOND}
burst = {BURST}

[tenants.{TENANT}.instances.sms.settings]
account_sid = "{ACCOUNT_SID}"
sms_sender = "{SENDER}"
api_base_url = {json.dumps(url)}
max_connections = {max(100, concurrency)}

[tenants.{TENANT}.routes.default]
steps = [{{channel = "sms", instance = "sms"}}]
""",
        encoding="utf-8",
    )
    return path


def _child_env() -> dict[str, str]:
    """The environment the command runs in: the auth token from the environment, not the file."""
    env = dict(os.environ)
    env[f"RELAYKIT_TENANTS__{TENANT.upper()}__INSTANCES__SMS__SETTINGS__AUTH_TOKEN"] = AUTH_TOKEN
    env.pop("RELAYKIT_CONFIG", None)
    return env


def _reset(url: str) -> dict[str, Any]:
    """Forget the numbers the endpoint has seen; its counters before the next run."""
    request = urllib.request.Request(f"{url}/distinct", method="DELETE")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return endpoint_stats(url)


def _check_arrivals(name: str, before: dict[str, Any], after: dict[str, Any], count: int) -> None:
    created = after["created"] - before["created"]
    refused = after["refused"] - before["refused"]
    if created != count or after["distinct"] != count or refused:
        raise RuntimeError(
            f"{name}: {count:,} recipients, the endpoint answered 201 {created:,} times to"
            f" {after['distinct']:,} distinct numbers and refused {refused:,}"
        )


def _check_summary(run: ChildRun, count: int) -> str:
    """The command's JSON summary (the store's counts): N sent, nothing failed."""
    try:
        summary = json.loads(run.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"no JSON summary ({exc}): {run.failure()}") from exc
    counts = summary.get("counts", summary)
    sent, failed = counts.get("sent"), counts.get("failed", 0)
    if sent != count or failed:
        raise RuntimeError(f"the summary says {sent} sent, {failed} failed of {count}: {summary}")
    return _compact(run.stdout)


_SUMMARY_KEYS = ("recipients_read", "notifications", "sent", "failed", "pending", "fallen_back",
                 "bad_rows", "skipped_already_made", "by_channel")  # fmt: skip


def _compact(text: str) -> str:
    """The summary's counts, in one line."""
    if not text.strip():
        return "(none)"
    summary = json.loads(text)
    return json.dumps({k: summary[k] for k in _SUMMARY_KEYS if k in summary}, separators=(",", ":"))


def _progress(url: str, before: dict[str, Any], count: int) -> Callable[[float, int], None]:
    """A sampler callback printing the endpoint's count and the RSS every tenth of the way."""
    step = max(count // 10, 1)
    next_at = [step]

    def show(elapsed: float, rss: int) -> None:
        sent = endpoint_stats(url)["created"] - before["created"]
        if sent >= next_at[0] and sent < count:
            next_at[0] = (sent // step + 1) * step
            print(
                f"    {sent:>9,} sent  RSS {rss / MIB:6.1f} MiB  {sent / elapsed:,.0f}/s"
                f"  ({elapsed:,.0f} s)",
                flush=True,
            )

    return show


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min; 2 cores shared)"


if __name__ == "__main__":
    main()
