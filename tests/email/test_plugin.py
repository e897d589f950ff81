"""The ``email`` entry point: discovered like a third-party plugin, and cheap to load."""

from __future__ import annotations

import json
import subprocess
import sys

from relaykit import build_plugin_host
from relaykit_email import EmailConnector

HEAVY = ("aiosmtplib", "aiosmtpd", "email_validator")


def test_entry_point_registers_the_connector_and_its_sandbox() -> None:
    host = build_plugin_host()

    entry = host.connectors.get("email")
    assert entry.connector_class is EmailConnector
    assert entry.distribution == "relaykit-email"
    assert entry.spec.callback_kinds == ("bounce",)
    assert entry.spec.secret_settings == {"password", "bounce_secret"}
    assert "email" in list(host.sandboxes)


def test_discovery_imports_no_smtp_or_validator_library() -> None:
    """Loading every plugin must stay cheap: the SMTP stack loads on first use."""
    code = (
        "import sys, json; from relaykit import build_plugin_host; build_plugin_host(); "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert json.loads(result.stdout) == []
