"""The sandbox is its own distribution: not in relaykit-twilio's wheel, still one command away."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
RELAYKIT = Path(sys.executable).with_name("relaykit")

#: Runs relaykit's CLI in a process where ``relaykit_twilio_sandbox`` cannot be imported,
#: as in an environment where only the production wheels are installed.
WITHOUT_SANDBOX = (
    "import sys; sys.modules['relaykit_twilio_sandbox'] = None; "
    "from relaykit.cli import main; sys.argv = ['relaykit', *sys.argv[1:]]; main()"
)


def _wheel_files(project: str, out_dir: Path) -> list[str]:
    subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(out_dir), project],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out_dir.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_production_wheel_has_no_sandbox_and_the_sandbox_wheel_has_it(tmp_path: Path) -> None:
    production = _wheel_files("connectors/twilio", tmp_path / "twilio")
    sandbox = _wheel_files("connectors/twilio-sandbox", tmp_path / "sandbox")

    assert "relaykit_twilio/connector.py" in production
    assert [name for name in production if "sandbox" in name.split("/")[1]] == []
    assert "relaykit_twilio_sandbox/_server.py" in sandbox
    assert "relaykit_twilio_sandbox/_inbound.py" in sandbox
    assert not [name for name in sandbox if name.startswith("relaykit_twilio/")]


def test_relaykit_sandbox_twilio_serves_from_the_workspace() -> None:
    process = subprocess.Popen(
        [RELAYKIT, "sandbox", "twilio", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert "twilio sandbox listening on http://127.0.0.1:" in first, first


def test_relaykit_sandbox_twilio_without_the_distribution_says_what_to_install() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_SANDBOX, "sandbox", "twilio", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "install relaykit-twilio-sandbox" in done.stderr


def test_the_connector_still_loads_without_the_sandbox_installed() -> None:
    code = (
        "import sys; sys.modules['relaykit_twilio_sandbox'] = None; "
        "from relaykit import build_plugin_host; "
        "host = build_plugin_host(strict=True); "
        "print(host.connectors.get('twilio').connector_class.__name__, sorted(host.sandboxes))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RELAYKIT_LOAD_PLUGINS": "twilio"},
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["TwilioConnector", "['twilio']"]
