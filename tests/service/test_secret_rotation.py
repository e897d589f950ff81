"""A rotated Auth Token is picked up without a restart: ``relaykit serve`` and ``relaykit worker``
as an operator runs them (subprocesses), the Twilio sandbox, and the token in a file of
``RELAYKIT_SECRETS_DIR`` that is replaced and followed by SIGHUP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from relaykit import ConfigError
from relaykit.delivery import Relay
from relaykit.delivery.reload import reload_secrets
from relaykit.delivery.worker import Worker
from relaykit.service import hash_api_key
from relaykit_twilio_sandbox import DEFAULT_SMS_NUMBER, ThreadedSandbox, TwilioSandbox

RELAYKIT = str(Path(sys.executable).with_name("relaykit"))
KEY = "rk_rotation_test_key_0123456789abcdef"
TOKEN_FILE = "tenants__north-high__instances__sms__settings__auth_token"
OLD_TOKEN = "0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld00"  # what Twilio no longer accepts
STUDENT = "+15005550080"
NOTIFICATION: dict[str, Any] = {
    "event": "attendance_absence",
    "recipient": {
        "id": "stu-1",
        "kind": "student",
        "name": "Jamie Rivera",
        "phones": [{"number": STUDENT, "sms_status": "enabled"}],
    },
    "data": {
        "student_name": "Jamie Rivera",
        "school_name": "North High School",
        "absence_date": "Monday 12 May 2025",
    },
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _call(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def rotate(secrets: Path, token: str) -> None:
    """Replace the token file the way a secret store does: a new file renamed over the old."""
    fresh = secrets / f".{TOKEN_FILE}.new"
    fresh.write_text(token, "utf-8")
    fresh.replace(secrets / TOKEN_FILE)


class Stack:
    """``relaykit serve`` (and optionally ``relaykit worker``) on one config and secrets dir."""

    def __init__(
        self, tmp_path: Path, sandbox: TwilioSandbox, *, queued: bool, pool: str = ""
    ) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sandbox = sandbox
        self.secrets = tmp_path / "secrets"
        self.secrets.mkdir()
        rotate(self.secrets, OLD_TOKEN)
        self.config = tmp_path / "relaykit.toml"
        self.config.write_text(
            f'data_dir = "{tmp_path / "data"}"\n'
            f'public_base_url = "{self.url}"\n'
            f"[service]\nport = {self.port}\n"
            f"[delivery]\ninline = {'false' if queued else 'true'}\nmax_attempts = 1\n"
            f'[tenants.north-high]\napi_keys = ["{hash_api_key(KEY)}"]\n'
            "[tenants.north-high.instances.sms]\n"
            'connector = "twilio"\n'
            "rate_per_second = 1000\n"
            "[tenants.north-high.instances.sms.settings]\n"
            f'account_sid = "{sandbox.account_sid}"\n'
            f'sms_sender = "{DEFAULT_SMS_NUMBER}"\n'
            f'api_base_url = "{sandbox.url}"\n'
            '[tenants.north-high.routes.default]\nsteps = [{channel = "sms", instance = "sms"}]\n'
            '[tenants.north-high.two_way]\ninstance = "sms"\n'
            f"sender_pool = {json.dumps([pool] if pool else [])}\n",
            encoding="utf-8",
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")}
        self.env.update(RELAYKIT_SECRETS_DIR=str(self.secrets), RELAYKIT_LOAD_PLUGINS="twilio")
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def start(self, command: str, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [RELAYKIT, "-c", str(self.config), command, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes[command] = process
        return process

    def wait_until_serving(self) -> None:
        def up() -> bool:
            assert self.processes["serve"].poll() is None, self.output("serve")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return True
            except OSError:
                return False

        _eventually(up, "relaykit serve answers")

    def output(self, command: str) -> str:
        process = self.processes[command]
        if process.poll() is None:
            return "(still running)"
        out, err = process.communicate()
        return f"exit {process.returncode}\n{out}\n{err}"

    def sms_state(self) -> str:
        status, body = _call(f"{self.url}/v1/connectors")
        assert status == 200, body
        [sms] = [c for c in body["connectors"] if c["instance"] == "sms"]
        return str(sms["state"])

    def notify(self) -> str:
        status, answer = _call(f"{self.url}/v1/notifications", NOTIFICATION)
        assert status == 201, answer
        return str(answer["id"])

    def delivery_state(self, delivery_id: str) -> str:
        status, body = _call(f"{self.url}/v1/deliveries/{delivery_id}")
        assert status == 200, body
        return str(body["state"])

    def texts_to_student(self) -> int:
        return sum(1 for m in self.sandbox.messages if m.to == STUDENT)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


@pytest.fixture
def sandbox() -> Iterator[TwilioSandbox]:
    with ThreadedSandbox(TwilioSandbox(callback_delay=0.005)) as running:
        yield running


@pytest.fixture
def make_stack(tmp_path: Path, sandbox: TwilioSandbox) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def make(*, queued: bool = False) -> Stack:
        stacks.append(Stack(tmp_path, sandbox, queued=queued))
        return stacks[-1]

    yield make
    for stack in stacks:
        stack.stop()


def test_serve_picks_up_a_rotated_auth_token_on_sighup(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    serve = stack.start("serve")
    stack.wait_until_serving()
    assert stack.sms_state() == "invalid_credentials"
    stack.notify()  # refused by Twilio (20003): the instance is marked not connected
    assert stack.texts_to_student() == 0

    rotate(stack.secrets, stack.sandbox.auth_token)
    serve.send_signal(signal.SIGHUP)

    # re-checked at once: the live check says so (no 30 s old answer), and SMS is used again
    time.sleep(0.5)
    assert serve.poll() is None, stack.output("serve")
    _eventually(lambda: stack.sms_state() == "connected", "serve reports the instance connected")
    stack.notify()
    _eventually(lambda: stack.texts_to_student() == 1, "the next notification goes by SMS")
    assert serve.poll() is None, stack.output("serve")


def test_serve_with_workers_passes_sighup_to_every_worker(
    make_stack: Callable[..., Stack],
) -> None:
    # uvicorn itself would replace the workers one by one (seconds each), and until then an
    # old one keeps the old token: notifications it takes do not go by SMS.
    stack = make_stack()
    serve = stack.start("serve", "--workers", "2")
    stack.wait_until_serving()
    assert stack.sms_state() == "invalid_credentials"

    rotate(stack.secrets, stack.sandbox.auth_token)
    serve.send_signal(signal.SIGHUP)
    _eventually(lambda: stack.sms_state() == "connected", "a worker reports connected")
    time.sleep(0.5)  # the other worker got the signal at the same moment
    for _ in range(6):  # spread over both workers
        stack.notify()

    _eventually(lambda: stack.texts_to_student() == 6, "every notification goes by SMS")
    assert serve.poll() is None, stack.output("serve")


def test_worker_picks_up_a_rotated_auth_token_on_sighup(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(queued=True)
    stack.start("serve")
    stack.wait_until_serving()
    worker = stack.start("worker", "--poll-interval", "0.05")
    refused = stack.notify()  # the worker's send is refused (20003): instance not connected

    def failed() -> bool:
        assert worker.poll() is None, stack.output("worker")
        return stack.delivery_state(refused) == "failed"

    _eventually(failed, "the worker has tried and failed")
    assert stack.texts_to_student() == 0

    rotate(stack.secrets, stack.sandbox.auth_token)
    worker.send_signal(signal.SIGHUP)
    time.sleep(1)  # the worker re-reads the secrets and re-checks the instance at once
    stack.notify()

    def sent_by_sms() -> bool:
        assert worker.poll() is None, stack.output("worker")
        return stack.texts_to_student() == 1

    _eventually(sent_by_sms, "the worker sends the next one by SMS")


@pytest.mark.parametrize("pool", ["", "+15005559999"], ids=["", "with-a-pool-number-not-owned"])
async def test_worker_rereads_the_secrets_before_rechecking_an_instance_marked_down(
    tmp_path: Path, sandbox: TwilioSandbox, monkeypatch: pytest.MonkeyPatch, pool: str
) -> None:
    # No SIGHUP: the worker's own re-check of a down instance finds the fixed token. A staff
    # pool number the account does not own fails the check (sender_not_verified), but the
    # credentials are accepted, so the instance is back in use for its own sender.
    stack = Stack(tmp_path, sandbox, queued=True, pool=pool)
    for name, value in stack.env.items():
        if name.startswith("RELAYKIT_"):
            monkeypatch.setenv(name, value)
    relay = Relay.from_config(stack.config)
    worker = Worker(relay, poll_interval=0.01)
    try:
        await relay.anotify("north-high", NOTIFICATION["event"], **_args())
        await worker.run(until_idle=True)  # refused with 20003: marked not connected
        assert relay.health.is_down("north-high/sms")
        await worker.recheck_down_instances()
        assert relay.health.is_down("north-high/sms")  # nothing changed yet: still down

        rotate(stack.secrets, sandbox.auth_token)
        await worker.recheck_down_instances()

        assert not relay.health.is_down("north-high/sms")
        await relay.anotify("north-high", NOTIFICATION["event"], **_args())
        await worker.run(until_idle=True)
        assert stack.texts_to_student() == 1
    finally:
        await relay.aclose()


def _args() -> dict[str, Any]:
    return {"recipient": NOTIFICATION["recipient"], "data": NOTIFICATION["data"]}


async def test_an_invalid_rotated_secret_is_refused_and_the_running_instance_stays(
    tmp_path: Path, sandbox: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(tmp_path, sandbox, queued=False)
    rotate(stack.secrets, sandbox.auth_token)
    for name, value in stack.env.items():
        if name.startswith("RELAYKIT_"):
            monkeypatch.setenv(name, value)
    relay = Relay.from_config(stack.config)
    try:
        before = relay.host.connector("north-high/sms")
        rotate(stack.secrets, "short")  # not an Auth Token: the schema refuses it

        with pytest.raises(ConfigError, match="auth_token") as refused:
            await reload_secrets(relay)

        assert "short" not in str(refused.value)
        assert relay.host.connector("north-high/sms") is before
        assert (await relay.host.authenticate("north-high/sms")).connected
    finally:
        await relay.aclose()
