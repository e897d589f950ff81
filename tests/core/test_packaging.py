"""The third-party path for real: wheels installed by plain pip in a fresh venv are found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheels_installed_with_pip_are_discovered_through_their_entry_points(
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        ["uv", "build", "--all-packages", "--wheel", "--out-dir", str(wheels)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(wheels), "tests/example_connector"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    built = sorted(p.name.split("-")[0] for p in wheels.glob("*.whl"))
    assert built == [
        "relaykit",
        "relaykit_email",
        "relaykit_outbox",
        "relaykit_twilio",
        "relaykit_twilio_sandbox",
    ]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, "--find-links", str(wheels), *map(str, wheels.glob("*.whl"))], check=True)

    listed = subprocess.run(
        [str(venv / "bin" / "relaykit"), "connectors", "list", "--json"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        env={"PATH": str(venv / "bin"), "RELAYKIT_STRICT_PLUGINS": "1", "HOME": str(tmp_path)},
    )
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert sorted(rows) == ["email", "outbox", "twilio"]
    assert all(row["available"] for row in rows.values())
    assert rows["twilio"]["distribution"] == "relaykit-twilio"
    assert rows["outbox"]["distribution"] == "relaykit-outbox"
