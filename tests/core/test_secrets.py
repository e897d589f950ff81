"""Secrets stay out of logs and tracebacks in every encoding (PITFALLS 1, 3, 4, 5)."""

from __future__ import annotations

import base64
import json
import logging
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
