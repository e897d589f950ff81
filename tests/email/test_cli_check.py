"""``relaykit check`` (the core CLI, as a user runs it) against a real relay."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.email.conftest import PASSWORD, Relay


def write_config(tmp_path: Path, settings: dict[str, Any]) -> Path:
    lines = [
        f'data_dir = "{tmp_path / "data"}"',
        "[tenants.north-high.instances.email]",
        'connector = "email"',
        "[tenants.north-high.instances.email.settings]",
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    path = tmp_path / "relaykit.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


async def relaykit(*args: str) -> tuple[int, str]:
    """Run the ``relaykit`` command without blocking the loop the test relay runs on."""
    executable = shutil.which("relaykit")
    assert executable, "the relaykit console script is not installed"
    process = await asyncio.create_subprocess_exec(
        executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "RELAYKIT_LOG__LEVEL": "warning"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_check_reports_connected_and_sends_the_test_message(
    relay: Relay, tmp_path: Path
) -> None:
    config = write_config(tmp_path, relay.settings(test_recipient="office@example.org"))

    code, output = await relaykit(
        "--config", str(config), "check", "north-high/email", "--send-test", "--json"
    )

    report = json.loads(output)
    assert code == 0, output
    assert report["state"] == "connected"
    assert report["test_send"]["ok"] is True
    (mail,) = relay.sink.received
    assert mail.rcpt_tos == ("office@example.org",)
    assert PASSWORD not in output


@pytest.mark.parametrize(
    ("overrides", "state"),
    [({"password": "wrong-password"}, "invalid_credentials"), ({"port": 1}, "unreachable")],
)
async def test_check_names_the_reason_for_a_broken_setup(
    relay: Relay, tmp_path: Path, overrides: dict[str, Any], state: str
) -> None:
    config = write_config(tmp_path, relay.settings(**overrides))

    code, output = await relaykit("--config", str(config), "check", "north-high/email", "--json")

    assert code != 0
    assert json.loads(output)["state"] == state
