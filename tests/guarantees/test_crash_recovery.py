"""Real worker processes, killed and restarted: nothing lost, nothing sent twice.

The worker runs as a subprocess (``python -m relaykit worker``) against a real
SQLite file or PostgreSQL database and the Twilio sandbox, serving from a
thread of this test process so the test can count what reached the provider.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaykit.delivery import Relay
from relaykit.plugins import build_plugin_host
from relaykit_twilio_sandbox import (
    IncomingNumber,
    ThreadedSandbox,
    TwilioSandbox,
    default_account,
)

TENANT = "acme"
DATA = {"code": "000000", "expires_minutes": "10", "service_name": "Portal"}
POOL_NUMBER = "+15005550100"
TEACHER = {"id": "t-1", "role": "teacher", "email": "teacher@example.org"}
TWO_WAY = f"""
[tenants.{TENANT}.two_way]
permitted_roles = ["teacher"]
sender_pool = ["{POOL_NUMBER}"]
instance = "sms"
"""


@pytest.fixture
def sandbox() -> Iterator[TwilioSandbox]:
    account = default_account()
    account.numbers.append(IncomingNumber(POOL_NUMBER))
    with ThreadedSandbox(TwilioSandbox(accounts=[account], callback_delay=60)) as running:
        yield running


def write_config(
    tmp_path: Path,
    sandbox: TwilioSandbox,
    database_url: str,
    extra: str = "",
    stale_after: float = 1,
) -> Path:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f"""
data_dir = "{tmp_path / "data"}"
database_url = "{database_url}"
[log]
level = "warning"
[delivery]
inline = false
stale_after_seconds = {stale_after}
max_attempts = 5
base_delay_seconds = 0.05
[tenants.{TENANT}.instances.sms]
connector = "twilio"
rate_per_second = 100000
burst = 100000
[tenants.{TENANT}.instances.sms.settings]
account_sid = "{sandbox.account_sid}"
auth_token = "{sandbox.auth_token}"
sms_sender = "+15005550006"
api_base_url = "{sandbox.url}"
request_timeout_seconds = 0.5
[tenants.{TENANT}.routes.default]
steps = [{{channel = "sms", instance = "sms"}}]
"""
        + extra,
        "utf-8",
    )
    return config


def queue(config: Path, count: int, staff: dict[str, str] | None = None) -> list[str]:
    relay = Relay.from_config(config, plugins=build_plugin_host(strict=True))
    try:
        return [
            relay.notify(
                TENANT,
                "otp",
                {
                    "id": f"r{n}",
                    "phones": [{"number": f"+1500555{3000 + n}", "sms_status": "enabled"}],
                },
                DATA,
                staff=staff,
            ).id
            for n in range(count)
        ]
    finally:
        relay.close()


def worker(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "relaykit", "--config", str(config), "worker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "RELAYKIT_STRICT_PLUGINS": "1"},
    )


def states(config: Path, ids: list[str]) -> collections.Counter[str]:
    relay = Relay.from_config(config, plugins=build_plugin_host(strict=True))
    try:
        return collections.Counter(relay.delivery(i).state for i in ids)  # type: ignore[union-attr]
    finally:
        relay.close()


def sends_per_recipient(sandbox: TwilioSandbox) -> collections.Counter[int]:
    """How many recipients got 1 message, 2 messages, ..."""
    return collections.Counter(collections.Counter(m.to for m in sandbox.messages).values())


def kill_9_once_sent(config: Path, sandbox: TwilioSandbox, count: int) -> int:
    """Run a worker until ``count`` messages reached Twilio, kill -9 it; how many had."""
    sandbox.faults.update(latency_ms=40)  # messages exist at Twilio before the answer arrives
    first = worker(config, "--concurrency", "8", "--until-idle")
    while len(sandbox.messages) < count:
        assert first.poll() is None, first.stdout.read() if first.stdout else ""
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    return len(sandbox.messages)


@pytest.mark.timeout(120)
def test_kill_9_mid_batch_then_restart_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, sandbox: TwilioSandbox
) -> None:
    config = write_config(tmp_path, sandbox, f"sqlite:///{tmp_path / 'relaykit.db'}")
    ids = queue(config, 300)
    at_kill = kill_9_once_sent(config, sandbox, 100)
    time.sleep(1.2)  # past stale_after: the dead worker's attempts count as abandoned

    second = worker(config, "--concurrency", "8", "--until-idle")
    output, _ = second.communicate(timeout=90)

    assert second.returncode == 0, output
    assert 100 <= at_kill < 300
    assert states(config, ids) == {"sent": 300}
    assert sends_per_recipient(sandbox) == {1: 300}  # zero duplicates at the provider
    adopted = int(output.split(" adopted")[0].rsplit(" ", 1)[1])
    assert adopted >= 1  # sent before the kill, answer never seen: found at Twilio, not resent


@pytest.mark.timeout(120)
def test_crash_recovery_of_pool_number_message_does_not_resend(
    tmp_path: Path, sandbox: TwilioSandbox
) -> None:
    """A staff message from a pool number, in flight at a kill -9, is found at Twilio."""
    config = write_config(tmp_path, sandbox, f"sqlite:///{tmp_path / 'relaykit.db'}", TWO_WAY)
    ids = queue(config, 120, staff=TEACHER)
    kill_9_once_sent(config, sandbox, 40)
    time.sleep(1.2)  # past stale_after

    second = worker(config, "--concurrency", "8", "--until-idle")
    output, _ = second.communicate(timeout=90)

    assert second.returncode == 0, output
    assert {m.from_ for m in sandbox.messages} == {POOL_NUMBER}
    assert states(config, ids) == {"sent": 120}
    assert sends_per_recipient(sandbox) == {1: 120}  # zero duplicates at the provider
    adopted = int(output.split(" adopted")[0].rsplit(" ", 1)[1])
    assert adopted >= 1, output


@pytest.mark.timeout(120)
def test_worker_until_idle_does_not_exit_with_attempts_left_in_flight(
    tmp_path: Path, sandbox: TwilioSandbox
) -> None:
    """Restarted at once after a kill -9, ``--until-idle`` recovers the dead worker's attempts."""
    database = f"sqlite:///{tmp_path / 'relaykit.db'}"
    config = write_config(tmp_path, sandbox, database, stale_after=10)
    ids = queue(config, 100)
    kill_9_once_sent(config, sandbox, 30)

    second = worker(config, "--concurrency", "8", "--until-idle")  # before they are stale
    output, _ = second.communicate(timeout=90)

    assert second.returncode == 0, output
    assert states(config, ids) == {"sent": 100}
    assert sends_per_recipient(sandbox) == {1: 100}


def test_a_second_worker_on_one_sqlite_store_is_refused(
    tmp_path: Path, sandbox: TwilioSandbox
) -> None:
    config = write_config(tmp_path, sandbox, f"sqlite:///{tmp_path / 'relaykit.db'}")
    first = worker(config, "--poll-interval", "0.05")
    try:
        time.sleep(1.5)
        second = worker(config, "--until-idle")
        output, _ = second.communicate(timeout=30)
        assert second.returncode == 2
        assert "another worker is running" in output
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(10)
    assert first.returncode == 0


@pytest.mark.timeout(120)
def test_two_workers_on_postgresql_never_send_one_message_twice(
    tmp_path: Path, sandbox: TwilioSandbox, fresh_postgres_url: str
) -> None:
    config = write_config(tmp_path, sandbox, fresh_postgres_url)
    ids = queue(config, 200)
    sandbox.faults.update(latency_ms=5)

    workers = [worker(config, "--concurrency", "8", "--until-idle") for _ in range(2)]
    outputs = [w.communicate(timeout=90)[0] for w in workers]

    assert [w.returncode for w in workers] == [0, 0], outputs
    assert states(config, ids) == {"sent": 200}
    assert sends_per_recipient(sandbox) == {1: 200}
    attempts = [int(out.split("worker stopped: ")[1].split(" attempt")[0]) for out in outputs]
    assert sum(attempts) == 200 and min(attempts) > 0  # both took a share
