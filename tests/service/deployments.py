"""relaykit as an operator deploys it: a ``relaykit.toml`` on one Twilio sandbox, and
``relaykit serve`` / ``relaykit worker`` started on it as subprocesses, talked to over HTTP."""

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relaykit.service import hash_api_key
from relaykit_twilio_sandbox import DEFAULT_SMS_NUMBER, TwilioSandbox

RELAYKIT = str(Path(sys.executable).with_name("relaykit"))
KEY = "rk_deployment_test_key_0123456789abcdef"
STUDENT = "+15005550080"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def write_at_once(path: Path, text: str) -> None:
    """Replace ``path`` at once, as an editor saving, a deploy or a secret store does."""
    fresh = path.with_name(f".{path.name}.new")
    fresh.write_text(text, "utf-8")
    fresh.replace(path)


class SmsDeployment:
    """One tenant (``north-high``, API key :data:`KEY`) with an SMS instance on ``sandbox``,
    and the relaykit processes started on its ``relaykit.toml``.

    :param auth_token: written into the config; ``None`` leaves it to ``RELAYKIT_SECRETS_DIR``.
    :param extra: TOML appended to the config (more tables, ``[events.…]``).
    """

    def __init__(
        self,
        tmp_path: Path,
        sandbox: TwilioSandbox,
        *,
        queued: bool,
        auth_token: str | None,
        top: str = "",
        extra: str = "",
    ) -> None:
        self.tmp_path = tmp_path
        self.sandbox = sandbox
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp_path / "relaykit.toml"
        token = f'auth_token = "{auth_token}"\n' if auth_token is not None else ""
        self.base = (
            f'data_dir = "{tmp_path / "data"}"\n'
            f'public_base_url = "{self.url}"\n'
            f"{top}"
            f"[service]\nport = {self.port}\n"
            f"[delivery]\ninline = {'false' if queued else 'true'}\nmax_attempts = 1\n"
            '[log]\nformat = "json"\n'
            f'[tenants.north-high]\napi_keys = ["{hash_api_key(KEY)}"]\n'
            "[tenants.north-high.instances.sms]\n"
            'connector = "twilio"\n'
            "rate_per_second = 1000\n"
            "[tenants.north-high.instances.sms.settings]\n"
            f'account_sid = "{sandbox.account_sid}"\n'
            f"{token}"
            f'sms_sender = "{DEFAULT_SMS_NUMBER}"\n'
            f'api_base_url = "{sandbox.url}"\n'
            '[tenants.north-high.routes.default]\nsteps = [{channel = "sms", instance = "sms"}]\n'
        )
        self.write(extra)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")}
        self.env["RELAYKIT_LOAD_PLUGINS"] = "twilio"
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def write(self, extra: str) -> None:
        """Write ``relaykit.toml``: the base config with ``extra`` at its end."""
        write_at_once(self.config, self.base + extra)

    # -- processes ------------------------------------------------------------------------------

    def start(self, command: str, *args: str) -> subprocess.Popen[str]:
        """``relaykit -c relaykit.toml COMMAND ARGS``; its stderr goes to ``COMMAND.log``."""
        log = (self.tmp_path / f"{command}.log").open("w", encoding="utf-8")
        process = subprocess.Popen(
            [RELAYKIT, "-c", str(self.config), command, *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )
        log.close()
        self.processes[command] = process
        return process

    def log(self, command: str) -> list[dict[str, Any]]:
        """The JSON log records the process has written so far."""
        lines = (self.tmp_path / f"{command}.log").read_text("utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def output(self, command: str) -> str:
        text = (self.tmp_path / f"{command}.log").read_text("utf-8")
        return f"exit {self.processes[command].poll()}\n{text}"

    def alive(self, command: str) -> bool:
        """True while ``command`` runs; a failed assertion with its output once it has exited."""
        assert self.processes[command].poll() is None, self.output(command)
        return True

    def wait_until_serving(self) -> None:
        def up() -> bool:
            self.alive("serve")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return True
            except OSError:
                return False

        eventually(up, "relaykit serve answers")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # -- the API --------------------------------------------------------------------------------

    def call(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def texts_to_student(self) -> list[str]:
        """The bodies of the SMS the sandbox took for :data:`STUDENT`, in order."""
        return [m.body for m in self.sandbox.messages if m.to == STUDENT]
