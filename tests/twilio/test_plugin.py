"""The ``twilio`` entry point: cheap to import, registers the connector and a lazy sandbox,
and ``relaykit check`` reports the right state against the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaykit import ConnectionState, InstanceConfig, SandboxOptions, build_plugin_host
from relaykit.cli import app
from relaykit.instances import validate_instance_settings
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import ThreadedSandbox, TwilioSandbox


def test_importing_the_entry_point_loads_neither_sdk_nor_sandbox() -> None:
    code = (
        "import sys, relaykit_twilio.plugin as p; "
        "heavy = ['twilio', 'phonenumbers', 'aiohttp', 'relaykit_twilio_sandbox._server']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_entry_point_registers_connector_and_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "twilio")
    host = build_plugin_host(strict=True)
    entry = host.connectors.get("twilio")
    assert entry.connector_class is TwilioConnector
    assert entry.distribution == "relaykit-twilio"
    assert list(host.sandboxes) == ["twilio"]


async def test_the_registered_sandbox_starts_and_a_connector_connects_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "twilio")
    factory = build_plugin_host(strict=True).sandboxes.get("twilio")
    async with factory(SandboxOptions(port=0)) as running:
        assert running.url.startswith("http://127.0.0.1:")
        settings = validate_instance_settings(TwilioConnector.spec(), dict(running.settings))
        connector = TwilioConnector(
            InstanceConfig(tenant="demo", name="sms", connector="twilio", settings=settings)
        )
        try:
            assert (await connector.authenticate()).connected
        finally:
            await connector.aclose()


# -- relaykit check -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def threaded_sandbox() -> Iterator[TwilioSandbox]:
    with ThreadedSandbox(TwilioSandbox(callback_delay=0.005)) as sandbox:
        yield sandbox


def run_check(
    tmp_path: Path, sandbox: TwilioSandbox, *extra: str, **settings: str
) -> tuple[int, dict[str, object]]:
    values = {
        "account_sid": sandbox.account_sid,
        "auth_token": sandbox.auth_token,
        "sms_sender": "+15005550006",
        "test_recipient": "+15005550010",
        "api_base_url": sandbox.url,
        **settings,
    }
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
    config = tmp_path / "relaykit.toml"
    config.write_text(
        '[tenants.north-high.instances.sms]\nconnector = "twilio"\n'
        f"[tenants.north-high.instances.sms.settings]\n{lines}\n",
        "utf-8",
    )
    result = CliRunner().invoke(
        app,
        ["--config", str(config), "check", "north-high/sms", "--json", *extra],
        env={"RELAYKIT_LOAD_PLUGINS": "twilio"},
    )
    return result.exit_code, json.loads(result.stdout)


def test_relaykit_check_reports_connected_and_sends_the_test_message(
    tmp_path: Path, threaded_sandbox: TwilioSandbox
) -> None:
    code, report = run_check(tmp_path, threaded_sandbox, "--send-test")
    assert (code, report["state"], report["connected"]) == (0, "connected", True)
    sent = report["test_send"]
    assert isinstance(sent, dict) and sent["ok"] and sent["to"] == "+15005550010"
    assert any(m.sid == sent["provider_message_id"] for m in threaded_sandbox.messages)


@pytest.mark.parametrize(
    ("settings", "state"),
    [
        ({"auth_token": "0" * 32}, ConnectionState.INVALID_CREDENTIALS),
        ({"sms_sender": "+15005559999"}, ConnectionState.SENDER_NOT_VERIFIED),
    ],
)
def test_relaykit_check_gives_the_reason_it_is_not_connected(
    tmp_path: Path,
    threaded_sandbox: TwilioSandbox,
    settings: dict[str, str],
    state: ConnectionState,
) -> None:
    code, report = run_check(tmp_path, threaded_sandbox, **settings)
    assert (code, report["state"]) == (1, state.value)
    assert report["detail"]
