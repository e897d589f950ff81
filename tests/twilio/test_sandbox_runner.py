"""Ways to run the sandbox: relaykit's factory, a background thread, ``python -m``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
from twilio.rest import Client

from relaykit import RunningSandbox, SandboxOptions
from relaykit_twilio_sandbox import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SMS_NUMBER,
    ThreadedSandbox,
    TwilioSandbox,
    sandbox_factory,
)
from tests.twilio.sandbox_fixtures import basic_auth


def _get_json(url: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, object] = json.load(response)
        return result


async def test_factory_yields_settings_that_authenticate() -> None:
    async with sandbox_factory(SandboxOptions(port=0)) as running:
        assert isinstance(running, RunningSandbox)
        assert running.name == "twilio" and running.url.startswith("http://127.0.0.1:")
        settings = running.settings
        assert settings["api_base_url"] == running.url
        assert settings["sms_sender"] == DEFAULT_SMS_NUMBER
        account_sid = str(settings["account_sid"])
        auth = basic_auth(account_sid, str(settings["auth_token"]))
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{running.url}/2010-04-01/Accounts/{account_sid}.json", headers=auth
            ) as response,
        ):
            assert response.status == 200
        assert any("/_sandbox/inbound" in note for note in running.notes)


def test_threaded_sandbox_serves_the_synchronous_sdk() -> None:
    with ThreadedSandbox(TwilioSandbox(callback_delay=0.005)) as sandbox:
        client = Client(sandbox.account_sid, sandbox.auth_token)
        client.api.base_url = sandbox.url
        message = client.messages.create(to="+15551230001", from_=DEFAULT_SMS_NUMBER, body="hi")
        assert message.status == "queued"
        assert [m.sid for m in sandbox.messages] == [message.sid]


def test_importing_the_package_loads_neither_aiohttp_nor_the_sdk() -> None:
    """The plugin module may import ``sandbox_factory`` without the server's start-up cost."""
    code = (
        "import sys; import relaykit_twilio_sandbox as s; s.sandbox_factory; "
        "print(sorted(m for m in ('aiohttp', 'twilio') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_module_runner_serves_until_terminated(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "relaykit_twilio_sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("twilio sandbox listening on http://127.0.0.1:"), first
        url = first.rsplit(" ", 1)[-1].strip()
        auth = basic_auth(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
        account = _get_json(f"{url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}.json", auth)
        assert account["status"] == "active"
        assert _get_json(f"{url}/_sandbox")["account_sid"] == DEFAULT_ACCOUNT_SID
    finally:
        process.terminate()
        returncode = process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert returncode == 0
