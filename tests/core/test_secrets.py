"""Secrets stay out of logs and tracebacks in every encoding (PITFALLS 1, 3, 4, 5)."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import structlog

from relaykit.redaction import REDACTED, SecretRegistry, register_secret
from relaykit.testing import assert_no_secret, captured_logs

CANARY = "canary-Tok3n-9f8e7d6c5b4a"
#: never registered with the redactor: only leaving locals out keeps it out of tracebacks
UNREGISTERED = "unregistered-Secret-55aa11"


@pytest.fixture(autouse=True)
def canary_registered() -> None:
    register_secret(CANARY)


def call_provider(auth_token: str) -> None:
    """Fails with the token in a local variable, as a failing SDK call does."""
    headers = {"Authorization": "Basic " + base64.b64encode(f"AC1:{auth_token}".encode()).decode()}
    raise RuntimeError(f"provider refused the request ({len(headers)} header)")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_tracebacks_carry_no_frame_locals(log_format: str) -> None:
    """PITFALLS 1: structlog's tracebacks would render frame locals (the token) by default."""
    with captured_logs() as logs:
        from relaykit.logs import configure_logging

        configure_logging(format=log_format, level="debug", stream=logs)
        try:
            call_provider(UNREGISTERED)
        except RuntimeError:
            structlog.get_logger("test").exception("send_failed")

    output = logs.getvalue()
    assert "provider refused the request" in output  # the traceback is there...
    assert "call_provider" in output
    assert_no_secret(output, [UNREGISTERED], where="the traceback")  # ...its locals are not


def test_base64_forms_are_redacted_at_any_alignment() -> None:
    """PITFALLS 3: AUTH PLAIN carries base64("\\0user\\0password"); a plain grep misses it."""
    registry = SecretRegistry()
    registry.add(CANARY)
    for user in ("", "u", "us", "use", "relay@example.org"):
        blob = base64.b64encode(f"\0{user}\0{CANARY}".encode()).decode()
        assert REDACTED in registry.redact(f"send: 'AUTH PLAIN {blob}'")
        assert_no_secret(registry.redact(blob), [CANARY])
    for form in (quote(CANARY), CANARY.encode().hex(), base64.b64encode(CANARY.encode()).decode()):
        assert registry.redact(f"x={form};") == f"x={REDACTED};"


def test_stdlib_loggers_are_redacted_and_the_twilio_request_log_is_quiet() -> None:
    """PITFALLS 4: the twilio SDK logs every request at INFO, headers included."""
    with captured_logs("debug") as logs:
        twilio_log = logging.getLogger("twilio.http_client")
        twilio_log.info("-- BEGIN Twilio API Request -- token=%s", CANARY)
        logging.getLogger("some.library").warning("proxy http://relay:%s@proxy.local:3128", CANARY)

    output = logs.getvalue()
    assert not twilio_log.isEnabledFor(logging.INFO)
    assert "BEGIN Twilio API Request" not in output
    assert "proxy http://relay:" in output and REDACTED in output
    assert_no_secret(output, [CANARY], where="stdlib logs")


def test_exception_text_with_a_url_holding_a_secret_is_redacted() -> None:
    """PITFALLS 5: requests/urllib3 exception texts contain the full URL."""
    with pytest.raises(requests.ConnectionError) as raised:
        requests.get(f"http://127.0.0.1:1/2010-04-01/Accounts.json?Token={CANARY}", timeout=2)
    assert CANARY in str(raised.value)  # the library really does put it there

    with captured_logs() as logs:
        structlog.get_logger("test").error("unreachable", error=raised.value)
        try:
            raise raised.value
        except requests.ConnectionError:
            structlog.get_logger("test").exception("unreachable")

    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert len(events) == 2
    assert_no_secret(logs.getvalue(), [CANARY], where="exception logs")


EMBEDDER_SCRIPT = """
import logging, sys
import structlog
if sys.argv[2] == "embedder-configured":
    fmt = "EMBEDDER %(name)s %(message)s"
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=fmt)
    structlog.configure(processors=[structlog.processors.KeyValueRenderer()])
    before = structlog.get_config()
from relaykit import Relay
from relaykit.service import create_app
relay = Relay.from_config(sys.argv[1])
create_app(relay)
from relaykit.delivery import worker
password = relay.host.resolve("acme/mail").settings["password"].get_secret_value()
def smtp_login(user, password):
    raise RuntimeError(f"535 5.7.8 authentication failed for {user}:{password}")
try:
    smtp_login("office", password)
except RuntimeError:
    worker.log.exception("attempt_crashed", message="m1")
if sys.argv[2] == "embedder-configured":
    assert structlog.get_config() == before, "relaykit replaced the embedder's structlog config"
    assert [type(h) for h in logging.getLogger().handlers] == [logging.StreamHandler]
    structlog.get_logger("embedder").info("own_event", answer=42)
relay.close()
"""


def _embedded_run(tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        '[tenants.acme.instances.mail]\nconnector = "email"\n'
        "[tenants.acme.instances.mail.settings]\n"
        'host = "smtp.example.org"\nfrom_address = "office@example.org"\n'
        f'username = "office"\npassword = "{CANARY}"\n',
        "utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")}
    return subprocess.run(
        [sys.executable, "-c", EMBEDDER_SCRIPT, str(config), mode],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_library_use_logs_redacted_without_frame_locals(tmp_path: Path) -> None:
    """An embedding program that configured nothing still gets relaykit's safe chain."""
    done = _embedded_run(tmp_path, "nothing-configured")

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert_no_secret(output, [CANARY], where="library-use logs")
    assert "attempt_crashed" in output and "smtp_login" in output  # the traceback is there
    assert "authentication failed for office:" in output


def test_library_use_leaves_the_embedders_logging_configuration_alone(tmp_path: Path) -> None:
    """relaykit's events go through the embedder's stdlib handlers; their structlog set-up stays."""
    done = _embedded_run(tmp_path, "embedder-configured")

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"EMBEDDER relaykit\.worker .*attempt_crashed", done.stderr), output
    assert "event='own_event'" in output and "answer=42" in output  # their renderer, untouched
    assert_no_secret(output, [CANARY], where="library-use logs")
