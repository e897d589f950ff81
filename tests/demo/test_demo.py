"""``relaykit demo`` as a newcomer runs it: a subprocess, no configuration, local stand-ins only."""

from __future__ import annotations

import email
import json
import mailbox
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from email.policy import default as default_policy
from pathlib import Path

import pytest

RELAYKIT = [str(Path(sys.executable).with_name("relaykit"))]


def _environment() -> dict[str, str]:
    """No config file or RELAYKIT_* settings from the caller: the demo must need none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")}
    return {**env, "RELAYKIT_STRICT_PLUGINS": "1", "NO_COLOR": "1"}


@dataclass(frozen=True)
class DemoRun:
    done: subprocess.CompletedProcess[str]
    took: float
    data_dir: Path


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One ``relaykit demo`` run, shared by the tests that read its output and its Maildir."""
    where = tmp_path_factory.mktemp("demo")
    started = time.monotonic()
    done = subprocess.run(
        [*RELAYKIT, "demo", "--data-dir", str(where / "data")],
        cwd=where,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return DemoRun(done, time.monotonic() - started, where / "data")


def test_the_demo_tells_the_whole_story_and_exits_0(demo_run: DemoRun) -> None:
    out = demo_run.done.stdout
    assert demo_run.done.returncode == 0, out + demo_run.done.stderr
    rows = {
        "SMS delivered": r"sms\s+queued → sent → delivered",
        "WhatsApp for an emergency": r"whatsapp\s+queued → sent → delivered →",
        "Unsubscribed number": r"email\s+sms: failed\s+sms opted_out \(21610\)",
        "Outside allowed countries": r"email\s+sms: failed\s+sms provider_error",
        "Undelivered by the carrier": r"sms undelivered \(30003\)",
        "OTP during a 12-SMS backlog": r"Sam Rivera\s+sms\s+queued → sent → delivered\s*$",
        "Monthly limit (16) reached": r"email\s+sms: skipped\s+sms monthly_limit",
        "Reply to the teacher": r"Ms Okafor\s+email\s+sent",
    }
    for title, pattern in rows.items():
        line = next((x for x in out.splitlines() if title in x), "")
        assert re.search(pattern, line), f"{title!r} row: {line!r}"
    assert "✗" not in out
    assert demo_run.took < 20
    otp = re.search(r"OTP reached Twilio with ValidityPeriod=60 ahead of (\d+) of the 12", out)
    assert otp and int(otp[1]) >= 6, out  # ahead of most of the SMS queued before it


def test_the_fallback_emails_are_in_the_printed_maildir(demo_run: DemoRun) -> None:
    maildir = demo_run.data_dir / "email-maildir"
    assert str(maildir) in demo_run.done.stdout
    box = mailbox.Maildir(maildir, factory=None, create=False)

    recipients = sorted(str(m["To"]) for m in box)

    assert recipients == [
        "garcia@parents.example.org",
        "jones@parents.example.org",
        "kim@parents.example.org",
        "novak@parents.example.org",
        "okafor@northhigh.example.org",
    ]
    [staff_mail] = [m for m in box if "okafor" in str(m["To"])]
    reply = email.message_from_bytes(staff_mail.as_bytes(), policy=default_policy)
    text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "ill today" in text and "+15005550011" in text


def test_keep_running_leaves_the_api_up_until_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*RELAYKIT, "demo", "--keep-running", "--data-dir", str(tmp_path / "demo")],
        cwd=tmp_path,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "uv run relaykit" in line and "usage" in line:
                break
        printed = "".join(lines)
        url = re.search(r"relaykit service\s+(http://127\.0\.0\.1:\d+)", printed)
        key = re.search(r"demo API key\s+(rk_\S+)", printed)
        assert url and key, printed
        call = urllib.request.Request(
            f"{url[1]}/v1/messages?channel=sms",
            headers={"Authorization": f"Bearer {key[1]}"},
        )
        with urllib.request.urlopen(call, timeout=10) as response:
            messages = json.loads(response.read())["messages"]
        config = re.search(r"relaykit -c (\S+) messages list", printed)
        assert config, printed
        cli = subprocess.run(
            [*RELAYKIT, "-c", config[1], "usage", "--json"],
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=15)

    assert {m["to"] for m in messages} >= {"+15005550010", "+15005550011"}
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["sms_sent"] == json.loads(cli.stdout)["sms_limit"] == 16
    assert code == 0


def test_the_demo_ignores_relaykit_settings_in_the_environment(tmp_path: Path) -> None:
    """A caller's RELAYKIT_* settings (a real mail password, a database) must not reach the demo."""
    password = "real-Mail-Passw0rd-4711"
    elsewhere = tmp_path / "production.db"
    config = tmp_path / "production.toml"
    config.write_text('[tenants.north-high]\ndisplay_name = "Production"\n')
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "tenants__north-high__instances__sms__settings__auth_token").write_text("prod-tok")
    env = {
        **_environment(),
        "RELAYKIT_TENANTS__NORTH-HIGH__INSTANCES__MAIL__SETTINGS__PASSWORD": password,
        "RELAYKIT_TENANTS__NORTH-HIGH__INSTANCES__MAIL__SETTINGS__USERNAME": "office",
        "RELAYKIT_DATABASE_URL": f"sqlite:///{elsewhere}",
        "RELAYKIT_CONFIG": str(config),
        "RELAYKIT_SECRETS_DIR": str(secrets),
    }
    done = subprocess.run(
        [*RELAYKIT, "demo", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "✗" not in done.stdout and "Not as expected" not in done.stdout
    assert not elsewhere.exists()  # the demo's messages stayed in its own data directory
    written = (tmp_path / "data" / "relaykit.toml").read_text()
    for text in (written, done.stdout, done.stderr):
        assert password not in text and "prod-tok" not in text and "Production" not in text
