"""A rotated Auth Token is picked up without a restart: ``relaykit serve`` and ``relaykit worker``
as an operator runs them (subprocesses), the Twilio sandbox, and the token in a file of
``RELAYKIT_SECRETS_DIR`` that is replaced and followed by SIGHUP.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from relaykit import ConfigError
from relaykit.delivery import Relay
from relaykit.delivery.reload import reload_secrets
from relaykit.delivery.worker import Worker
from relaykit_twilio_sandbox import ThreadedSandbox, TwilioSandbox
from tests.service.deployments import STUDENT, SmsDeployment, eventually, write_at_once

TOKEN_FILE = "tenants__north-high__instances__sms__settings__auth_token"
OLD_TOKEN = "0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld00"  # what Twilio no longer accepts
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


def rotate(secrets: Path, token: str) -> None:
    """Replace the token file the way a secret store does: a new file renamed over the old."""
    write_at_once(secrets / TOKEN_FILE, token)


class Stack(SmsDeployment):
    """``relaykit serve`` (and optionally ``relaykit worker``) on one config and secrets dir,
    the Auth Token only in the secrets dir."""

    def __init__(
        self, tmp_path: Path, sandbox: TwilioSandbox, *, queued: bool, pool: str = ""
    ) -> None:
        super().__init__(
            tmp_path,
            sandbox,
            queued=queued,
            auth_token=None,
            extra='[tenants.north-high.two_way]\ninstance = "sms"\n'
            f"sender_pool = {json.dumps([pool] if pool else [])}\n",
        )
        self.secrets = tmp_path / "secrets"
        self.secrets.mkdir()
        rotate(self.secrets, OLD_TOKEN)
        self.env["RELAYKIT_SECRETS_DIR"] = str(self.secrets)

    def sms_state(self) -> str:
        status, body = self.call("/v1/connectors")
        assert status == 200, body
        [sms] = [c for c in body["connectors"] if c["instance"] == "sms"]
        return str(sms["state"])

    def notify(self) -> str:
        status, answer = self.call("/v1/notifications", NOTIFICATION)
        assert status == 201, answer
        return str(answer["id"])

    def delivery_state(self, delivery_id: str) -> str:
        status, body = self.call(f"/v1/deliveries/{delivery_id}")
        assert status == 200, body
        return str(body["state"])

    def texts_sent(self) -> int:
        return len(self.texts_to_student())


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
    assert stack.texts_sent() == 0

    rotate(stack.secrets, stack.sandbox.auth_token)
    serve.send_signal(signal.SIGHUP)

    # re-checked at once: the live check says so (no 30 s old answer), and SMS is used again
    time.sleep(0.5)
    assert serve.poll() is None, stack.output("serve")
    eventually(lambda: stack.sms_state() == "connected", "serve reports the instance connected")
    stack.notify()
    eventually(lambda: stack.texts_sent() == 1, "the next notification goes by SMS")
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
    eventually(lambda: stack.sms_state() == "connected", "a worker reports connected")
    time.sleep(0.5)  # the other worker got the signal at the same moment
    for _ in range(6):  # spread over both workers
        stack.notify()

    eventually(lambda: stack.texts_sent() == 6, "every notification goes by SMS")
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

    eventually(failed, "the worker has tried and failed")
    assert stack.texts_sent() == 0

    rotate(stack.secrets, stack.sandbox.auth_token)
    worker.send_signal(signal.SIGHUP)
    time.sleep(1)  # the worker re-reads the secrets and re-checks the instance at once
    stack.notify()

    def sent_by_sms() -> bool:
        assert worker.poll() is None, stack.output("worker")
        return stack.texts_sent() == 1

    eventually(sent_by_sms, "the worker sends the next one by SMS")


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
        assert stack.texts_sent() == 1
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
