"""The email sandbox: an SMTP sink a newcomer can point an instance at and read the mail."""

from __future__ import annotations

import asyncio
import mailbox
import re
import signal
import subprocess
import sys
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from relaykit import Channel, ConnectionState, OutboundMessage, SandboxOptions, build_plugin_host
from relaykit_email.sandbox import MAILDIR_NAME, sandbox_factory
from tests.email.conftest import make_connector

RELAYKIT = Path(sys.executable).with_name("relaykit")

MESSAGE = OutboundMessage(
    channel=Channel.EMAIL,
    to="parent@example.org",
    body="Your PIN is ready 🔑",
    subject="Key is ready",
    reference="pin-42",
)


async def test_sandbox_settings_connect_and_mail_lands_in_the_maildir(tmp_path: Path) -> None:
    async with sandbox_factory(SandboxOptions(data_dir=tmp_path)) as running:
        connector = make_connector(dict(running.settings))
        status = await connector.authenticate()
        receipt = await connector.send(MESSAGE)

    assert status.state is ConnectionState.CONNECTED
    assert running.url == f"smtp://127.0.0.1:{running.settings['port']}"
    assert str(tmp_path / MAILDIR_NAME) in running.notes[0]
    (stored,) = list(mailbox.Maildir(tmp_path / MAILDIR_NAME, create=False))
    assert stored["Message-ID"] == receipt.provider_message_id
    assert message_from_bytes(stored.as_bytes(), policy=default)["Subject"] == "Key is ready"


async def test_sandbox_without_data_dir_keeps_mail_in_memory() -> None:
    async with sandbox_factory(SandboxOptions()) as running:
        receipt = await make_connector(dict(running.settings)).send(MESSAGE)

    assert receipt.provider_message_id
    assert "memory" in running.notes[0]


async def test_sandbox_port_is_free_again_after_it_stops() -> None:
    async with sandbox_factory(SandboxOptions()) as running:
        port = int(running.settings["port"])  # type: ignore[call-overload]
    async with sandbox_factory(SandboxOptions(port=port)) as again:
        assert again.settings["port"] == port


async def test_plugin_registers_the_email_sandbox(tmp_path: Path) -> None:
    host = build_plugin_host()

    async with host.sandboxes.get("email")(SandboxOptions(data_dir=tmp_path)) as running:
        await make_connector(dict(running.settings)).send(MESSAGE)

    assert running.name == "email"
    assert len(list(mailbox.Maildir(tmp_path / MAILDIR_NAME, create=False))) == 1


async def send_one_then_sigint(command: list[str | Path]) -> tuple[int, str]:
    """Start a sandbox command, send one message to the port it prints, stop it with Ctrl-C."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = await asyncio.to_thread(process.stdout.readline)
        match = re.search(r"smtp://127\.0\.0\.1:(\d+)", first)
        assert match, first
        settings = {
            "host": "127.0.0.1",
            "port": int(match.group(1)),
            "security": "none",
            "from_address": "notifications@example.com",
        }
        await make_connector(settings).send(MESSAGE)
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.to_thread(process.communicate, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, first + output


async def test_command_line_sandbox_receives_and_stops_on_sigint(tmp_path: Path) -> None:
    code, output = await send_one_then_sigint(
        [sys.executable, "-m", "relaykit_email.sandbox", "--port", "0", "--data-dir", tmp_path]
    )

    assert code == 0
    assert "received" in output and "Key is ready" in output
    assert len(list(mailbox.Maildir(tmp_path / MAILDIR_NAME, create=False))) == 1


async def test_relaykit_sandbox_email_creates_a_missing_data_dir(tmp_path: Path) -> None:
    """``relaykit sandbox email --data-dir D`` with no D yet: D is created and mail lands in it."""
    data_dir = tmp_path / "not" / "yet"

    code, _ = await send_one_then_sigint(
        [RELAYKIT, "sandbox", "email", "--port", "0", "--data-dir", data_dir]
    )

    assert code == 0
    assert len(list(mailbox.Maildir(data_dir / MAILDIR_NAME, create=False))) == 1


def test_relaykit_sandbox_email_with_a_file_as_data_dir_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")

    done = subprocess.run(
        [RELAYKIT, "sandbox", "email", "--port", "0", "--data-dir", tmp_path / "a-file"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "--data-dir" in done.stderr and str(tmp_path / "a-file") in done.stderr
    assert "directory" in done.stderr
