"""How long ``relaykit broadcast --dry-run``'s engine takes to plan N recipients.

Run from the workspace root::

    uv run python benchmarks/dry_run.py                 # 1,000,000 recipients
    uv run python benchmarks/dry_run.py -n 100000 --profile
    uv run python benchmarks/dry_run.py --cli           # the real command on a JSON-lines file

Streams N generated recipients (distinct valid US numbers; one in twenty with
no phone, so it falls back to email) as mappings - what a parsed JSON-lines
row hands over - through :func:`relaykit.delivery.dry_run.plan_broadcast`
for an ``emergency_alert`` routed SMS then email, with a monthly SMS limit
and a short code at 100/s with an hour's deadline (360,000 by SMS, the rest
by email). Nothing is sent: the Twilio instance points at a closed port.
Prints elapsed and CPU seconds, microseconds per recipient, and the load
average (the machine is shared: CPU time is the steadier figure).
With ``--cli`` the same recipients are written to a JSON-lines file and the
real command plans them: ``python -m relaykit --config relaykit.toml broadcast
north-high emergency_alert --recipients recipients.jsonl --dry-run --json`` (a
child process with the venv's interpreter; start-up, reading and parsing the
file included), its wall and CPU time and peak RSS printed.
Target (issue 13): 1,000,000 recipients in under 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from _child import run_measured
from _profile import profile
from _senders import ACCOUNT_SID, AUTH_TOKEN, SENDER, numbers

from relaykit.delivery import Relay
from relaykit.delivery.dry_run import plan_broadcast
from relaykit.plugins import build_plugin_host

TENANT = "north-high"
EVENT = "emergency_alert"
DATA = {"school_name": "North High School", "alert_message": "The school is closed today."}


def build_relay(data_dir: Path) -> Relay:
    tenant = {
        "display_name": "North High School",
        "instances": {
            "sms": {
                "connector": "twilio",
                "settings": {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                    "sms_sender": SENDER,
                    "api_base_url": "http://127.0.0.1:9",
                },
                "rate_per_second": 100,  # a short code
            },
            "mail": {
                "connector": "email",
                "settings": {"host": "127.0.0.1", "port": 9, "from_address": "office@example.org"},
            },
        },
        "routes": {
            "default": {
                "steps": [
                    {"channel": "sms", "instance": "sms"},
                    {"channel": "email", "instance": "mail"},
                ]
            }
        },
        "sms": {"monthly_limit": 900_000},
    }
    return Relay.from_config(
        None, plugins=build_plugin_host(), data_dir=data_dir, tenants={TENANT: tenant}
    )


def recipients(count: int) -> Iterator[dict[str, Any]]:
    for index, number in zip(range(count), numbers(), strict=False):
        person: dict[str, Any] = {"id": f"stu-{index}", "email": f"parent{index}@example.org"}
        if index % 20:
            person["phones"] = [{"number": number, "sms_status": "enabled"}]
        yield person


def config_text(data_dir: Path) -> str:
    """:func:`build_relay`'s tenant as a ``relaykit.toml``, for the command."""
    return f"""\
data_dir = {json.dumps(str(data_dir))}
[log]
level = "warning"
[tenants.{TENANT}]
display_name = "North High School"
[tenants.{TENANT}.sms]
monthly_limit = 900000
[tenants.{TENANT}.instances.sms]
connector = "twilio"
rate_per_second = 100
[tenants.{TENANT}.instances.sms.settings]
account_sid = "{ACCOUNT_SID}"
auth_token = "{AUTH_TOKEN}"
sms_sender = "{SENDER}"
api_base_url = "http://127.0.0.1:9"
[tenants.{TENANT}.instances.mail]
connector = "email"
[tenants.{TENANT}.instances.mail.settings]
host = "127.0.0.1"
port = 9
from_address = "office@example.org"
[tenants.{TENANT}.routes.default]
steps = [{{channel = "sms", instance = "sms"}}, {{channel = "email", instance = "mail"}}]
"""


def run_command(count: int, scratch: Path) -> None:
    """``relaykit broadcast --dry-run --json`` on a file of ``count`` recipients."""
    config = scratch / "relaykit.toml"
    config.write_text(config_text(scratch / "store"), "utf-8")
    people = scratch / "recipients.jsonl"
    with people.open("w", encoding="utf-8") as out:
        for person in recipients(count):
            out.write(json.dumps(person) + "\n")
    command = [
        sys.executable, "-m", "relaykit", "--config", str(config),
        "broadcast", TENANT, EVENT, "--recipients", str(people),
        "--data", json.dumps(DATA), "--deadline", "3600", "--dry-run", "--json",
    ]  # fmt: skip
    load = os.getloadavg()[0]
    run = run_measured(command)
    if run.returncode != 0:
        raise SystemExit(run.failure())
    report = json.loads(run.stdout)
    assert report["total"] == count, report
    print(report)
    print(
        f"relaykit broadcast --dry-run of {count:,} recipients: {run.wall_s:.1f} s wall "
        f"(target: 1,000,000 in < 60 s -> "
        f"{'met' if run.wall_s / count * 1e6 < 60 else 'MISSED'}), CPU {run.cpu_s:.1f} s, "
        f"{run.cpu_s / count * 1e6:.1f} us per recipient, peak RSS "
        f"{run.peak_rss_bytes / 1e6:.0f} MB; load average {load:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="recipients [1,000,000]")
    parser.add_argument("--profile", action="store_true", help="cProfile the run")
    parser.add_argument("--cli", action="store_true", help="through relaykit broadcast --dry-run")
    args = parser.parse_args()
    if args.cli:
        with tempfile.TemporaryDirectory() as scratch:
            run_command(args.n, Path(scratch))
        return
    with tempfile.TemporaryDirectory() as scratch:
        relay = build_relay(Path(scratch))

        def run() -> object:
            return plan_broadcast(
                relay, TENANT, EVENT, recipients(args.n), DATA, deadline=timedelta(hours=1)
            )

        if args.profile:
            profile(run, args.n)
            relay.close()
            return
        load = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
        report = run()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        relay.close()
    print(report.as_dict())  # type: ignore[attr-defined]
    print(
        f"dry run of {args.n:,} recipients: {elapsed:.1f} s, "
        f"{elapsed / args.n * 1e6:.1f} us per recipient "
        f"(target: 1,000,000 in < 60 s -> {'met' if elapsed / args.n * 1e6 < 60 else 'MISSED'}); "
        f"CPU {cpu:.1f} s, {cpu / args.n * 1e6:.1f} us per recipient; "
        f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    )


if __name__ == "__main__":
    main()
