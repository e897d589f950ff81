"""A real ``relaykit broadcast`` process, interrupted (Ctrl-C) or killed (kill -9), then run
again: every recipient gets the message exactly once at the Twilio sandbox."""

from __future__ import annotations

import collections
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaykit.delivery import Relay
from relaykit.plugins import build_plugin_host
from relaykit_twilio_sandbox import ThreadedSandbox, TwilioSandbox, default_account

TENANT = "acme"
COUNT = 300
DATA = {"code": "000000", "expires_minutes": "10", "service_name": "Portal"}


@pytest.fixture
def sandbox() -> Iterator[TwilioSandbox]:
    with ThreadedSandbox(TwilioSandbox(accounts=[default_account()], callback_delay=60)) as s:
        s.faults.update(latency_ms=40)  # messages exist at Twilio before the answer arrives
        yield s


@pytest.fixture
def config(tmp_path: Path, sandbox: TwilioSandbox) -> Path:
    path = tmp_path / "relaykit.toml"
    path.write_text(
        f"""
data_dir = "{tmp_path / "data"}"
[log]
level = "warning"
[delivery]
concurrency = 8
stale_after_seconds = 1
[tenants.{TENANT}.instances.sms]
connector = "twilio"
rate_per_second = 100000
burst = 100000
[tenants.{TENANT}.instances.sms.settings]
account_sid = "{sandbox.account_sid}"
auth_token = "{sandbox.auth_token}"
sms_sender = "+15005550006"
api_base_url = "{sandbox.url}"
request_timeout_seconds = 2
[tenants.{TENANT}.routes.default]
steps = [{{channel = "sms", instance = "sms"}}]
""",
        "utf-8",
    )
    return path


@pytest.fixture
def recipients(tmp_path: Path) -> Path:
    path = tmp_path / "people.jsonl"
    with path.open("w") as out:
        for n in range(COUNT):
            person = {"id": f"r{n}", "phones": [{"number": f"+1500555{3000 + n}"}]}
            person["phones"][0]["sms_status"] = "enabled"
            out.write(json.dumps(person) + "\n")
    return path


def command(config: Path, recipients: Path) -> list[str]:
    return [
        "--config", str(config), "broadcast", TENANT, "otp",
        "--recipients", str(recipients), "--data", json.dumps(DATA), "--key", "drill-1",
    ]  # fmt: skip


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "relaykit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "RELAYKIT_STRICT_PLUGINS": "1", "COLUMNS": "400"},
    )


def interrupt_once_sent(process: subprocess.Popen[str], sandbox: TwilioSandbox, how: int) -> int:
    while len(sandbox.messages) < 100:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        time.sleep(0.005)
    process.send_signal(how)
    return len(sandbox.messages)


def sends_per_recipient(sandbox: TwilioSandbox) -> collections.Counter[int]:
    """How many recipients got 1 message, 2 messages, ..."""
    return collections.Counter(collections.Counter(m.to for m in sandbox.messages).values())


def sent_state(config: Path) -> tuple[str, int]:
    relay = Relay.from_config(config, plugins=build_plugin_host(strict=True))
    try:
        found = relay.store.broadcasts.by_key(TENANT, "drill-1")
        assert found is not None
        status = relay.broadcast_status(found.id)
        assert status is not None
        return status.state, status.sent
    finally:
        relay.close()


@pytest.mark.timeout(120)
def test_ctrl_c_stops_cleanly_and_the_printed_command_resumes_it(
    config: Path, recipients: Path, sandbox: TwilioSandbox
) -> None:
    first = start(command(config, recipients))
    at_interrupt = interrupt_once_sent(first, sandbox, signal.SIGINT)
    output, _ = first.communicate(timeout=60)

    assert first.returncode == 130, output
    assert at_interrupt < COUNT and len(sandbox.messages) < COUNT, output
    resume = output.split("to resume, run:\n")[1].strip()
    words = shlex.split(resume)
    assert words[0] == "relaykit" and "--key" in words
    assert sends_per_recipient(sandbox) == {1: len(sandbox.messages)}  # no duplicates so far

    second = start(words[1:])
    output, _ = second.communicate(timeout=90)

    assert second.returncode == 0, output
    assert "resuming" in output
    assert sends_per_recipient(sandbox) == {1: COUNT}
    assert sent_state(config) == ("finished", COUNT)


@pytest.mark.timeout(120)
def test_kill_9_mid_broadcast_then_the_same_command_loses_nothing_and_sends_nothing_twice(
    config: Path, recipients: Path, sandbox: TwilioSandbox
) -> None:
    first = start(command(config, recipients))
    interrupt_once_sent(first, sandbox, signal.SIGKILL)
    first.wait(10)
    assert len(sandbox.messages) < COUNT

    second = start(command(config, recipients))
    output, _ = second.communicate(timeout=90)

    assert second.returncode == 0, output
    assert sends_per_recipient(sandbox) == {1: COUNT}  # 0 lost, 0 duplicates at the provider
    assert sent_state(config) == ("finished", COUNT)
