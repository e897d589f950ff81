"""Fixtures for the core's tests: the example third-party connector, configs, a CLI runner."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaykit.testing import DistributionWriter

EXAMPLE_SRC = Path(__file__).parents[1] / "example_connector" / "src"
# The example connector's code is importable like an installed package's; its entry point
# is only "installed" by the fixtures below, so discovery is still tested for real.
sys.path.insert(0, str(EXAMPLE_SRC))
CANARY_SECRET = "canary-Secret-0123456789-xyz"


@pytest.fixture
def outbox_installed(connector_distribution: DistributionWriter) -> None:
    """The example connector ``relaykit-outbox`` "installed": a dist-info with its entry point."""
    connector_distribution(
        "outbox", dist="relaykit-outbox", module="relaykit_outbox.plugin", extra_path=EXAMPLE_SRC
    )


@pytest.fixture
def only_outbox(monkeypatch: pytest.MonkeyPatch, outbox_installed: None) -> None:
    """Load just the example connector's entry point (not the first-party ones)."""
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "outbox")


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a relaykit.toml with the given text; returns its path."""

    def write(text: str) -> Path:
        path = tmp_path / "relaykit.toml"
        path.write_text(text, "utf-8")
        return path

    return write


@pytest.fixture
def outbox_config(tmp_path: Path, write_config: Callable[[str], Path]) -> Path:
    """A config with tenant north-high, instance ``sms`` of the outbox connector."""
    outbox_dir = tmp_path / "outbox"
    outbox_dir.mkdir()
    return write_config(
        f"""
        public_base_url = "https://relay.example.org"

        [tenants.north-high.instances.sms]
        connector = "outbox"

        [tenants.north-high.instances.sms.settings]
        directory = "{outbox_dir}"
        signing_secret = "{CANARY_SECRET}"
        test_recipient = "+15005550006"
        """.replace("\n        ", "\n")
    )


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()
