"""The CLI with a declared channel, as real ``relaykit`` processes: pager opt-outs and notify.

The example pager connector is "installed" (a dist-info with its entry point)
in a folder the subprocesses get on ``PYTHONPATH``; the state is one SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from relaykit.testing import DistributionWriter
from tests.core.conftest import CANARY_SECRET, EXAMPLE_SRC

RELAYKIT = str(Path(sys.executable).with_name("relaykit"))
PAGED = {
    "id": "stu-1",
    "email": "parent@example.org",
    "contacts": [{"kind": "pager_id", "address": "PG-012345", "status": "enabled"}],
}
EVENTS = """
[events.gate_opened]
title = "Gate opened"
variables = { site = { description = "The site", example = "Harbour View" } }
[events.gate_opened.templates]
pager = "{{site}}: the gate is open"
email_subject = "{{site}} gate"
email_text = "The gate of {{site}} is open."
email_html = "<p>The gate of {{site}} is open.</p>"
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def relaykit(
    tmp_path: Path, write_config: Callable[[str], Path], connector_distribution: DistributionWriter
) -> Run:
    """``relaykit(*args)`` runs the CLI in a subprocess on a pager → email config."""
    info = connector_distribution(
        "outbox", dist="relaykit-outbox", module="relaykit_outbox.plugin", extra_path=EXAMPLE_SRC
    )
    (tmp_path / "pages").mkdir()
    (tmp_path / "mails").mkdir()
    instance = '[tenants.north-high.instances.{name}]\nconnector = "outbox"\n' + (
        '[tenants.north-high.instances.{name}.settings]\ndirectory = "{dir}"\n'
        f'signing_secret = "{CANARY_SECRET}"\n'
    )
    config = write_config(
        f'data_dir = "{tmp_path / "data"}"\n'
        + EVENTS
        + instance.format(name="pager", dir=tmp_path / "pages")
        + instance.format(name="mail", dir=tmp_path / "mails")
        + "[tenants.north-high.routes.gate_opened]\n"
        'steps = [{channel = "pager", instance = "pager"},\n'
        '         {channel = "email", instance = "mail"}]\n'
        "[tenants.north-high.channels.pager]\nmax_length = 200\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(info.parent), str(EXAMPLE_SRC)]),
        "RELAYKIT_LOAD_PLUGINS": "outbox",
        "RELAYKIT_STRICT_PLUGINS": "1",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RELAYKIT, "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    return run


def notify(relaykit: Run) -> dict[str, object]:
    result = relaykit(
        "notify",
        "gate_opened",
        "--recipient",
        json.dumps(PAGED),
        "--data",
        json.dumps({"site": "Harbour View"}),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_pager_opt_out_is_stored_as_the_connector_normalises_and_honoured(
    relaykit: Run, tmp_path: Path
) -> None:
    paged = notify(relaykit)
    added = relaykit("optouts", "add", " pg-012345", "--channel", "pager")
    after = notify(relaykit)

    assert paged["channel"] == "pager"
    assert added.returncode == 0, added.stderr
    assert "PG-012345 (pager) opted out" in added.stdout
    assert after["channel"] == "email"
    assert after["fallbacks"] == [{"channel": "pager", "reason": "opted_out"}]
    pages = (tmp_path / "pages" / "outbox.jsonl").read_text().splitlines()
    assert [(json.loads(p)["to"], json.loads(p)["body"]) for p in pages] == [
        ("PG-012345", "Harbour View: the gate is open")
    ]


def test_an_opt_out_that_is_not_an_address_of_the_channels_kind_exits_2(relaykit: Run) -> None:
    result = relaykit("optouts", "add", "+15005550006", "--channel", "pager")

    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "'+15005550006' is not a pager_id address" in message
    assert "Traceback" not in result.stderr


def test_an_opt_out_on_a_channel_no_instance_serves_exits_2(relaykit: Run) -> None:
    result = relaykit("optouts", "add", "B-1", "--channel", "badge")

    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "no instance of tenant 'north-high' serves channel 'badge'" in message
    assert "Traceback" not in result.stderr


def test_describe_shows_each_channel_with_its_address_kind(relaykit: Run) -> None:
    result = relaykit("connectors", "describe", "outbox")

    assert result.returncode == 0, result.stderr
    assert "channels: sms (address: phone), email (address: email), pager (address: pager_id)" in (
        result.stdout
    )
