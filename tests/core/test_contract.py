"""The author's contract module: what it exports, that it does not load the host, versioning."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import relaykit
import relaykit.contract
from relaykit import PluginLoadError, build_plugin_host
from relaykit.connectors import contract_version_problem
from relaykit.testing import DistributionWriter
from tests.core.conftest import EXAMPLE_SRC
from tests.core.test_plugins import CONNECTOR_SOURCE, spec_named

HOST_MODULES = ("relaykit.host", "relaykit.plugins", "relaykit.delivery", "relaykit.store")


def loaded_host_modules(statement: str) -> list[str]:
    """The host modules a fresh interpreter has loaded after running ``statement``."""
    code = (
        f"import sys; {statement}; print(','.join(m for m in {HOST_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(EXAMPLE_SRC)},
    )
    return [m for m in result.stdout.strip().split(",") if m]


def test_importing_the_contract_does_not_load_the_host() -> None:
    assert loaded_host_modules("import relaykit.contract") == []


@pytest.mark.parametrize(
    "plugin_module", ["relaykit_outbox.plugin", "relaykit_twilio.plugin", "relaykit_email.plugin"]
)
def test_importing_a_connector_does_not_load_the_host(plugin_module: str) -> None:
    assert loaded_host_modules(f"import {plugin_module}") == []


def test_the_host_api_stays_in_relaykit() -> None:
    assert loaded_host_modules("from relaykit import ConnectorHost") == [
        "relaykit.host",
        "relaykit.plugins",
    ]
    for host_name in ("ConnectorHost", "PluginHost", "build_plugin_host", "Relay"):
        assert host_name in relaykit.__all__
        assert host_name not in relaykit.contract.__all__


def test_every_contract_name_is_the_object_relaykit_exports() -> None:
    for name in relaykit.contract.__all__:
        exported = getattr(relaykit.contract, name)
        if name in relaykit.__all__:
            assert getattr(relaykit, name) is exported, name


def test_first_party_connectors_declare_this_contract_version() -> None:
    from relaykit_email.connector import EmailConnector
    from relaykit_outbox.connector import OutboxConnector
    from relaykit_twilio.connector import TwilioConnector

    for connector in (TwilioConnector, EmailConnector, OutboxConnector):
        assert connector.contract_version == relaykit.contract.CONTRACT_VERSION


def install_declaring(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    source = CONNECTOR_SOURCE.format(cls="Acme", name="acme").replace(
        '    name = "acme"\n', f'    name = "acme"\n    contract_version = "{version}"\n'
    )
    assert "contract_version" in source
    connector_distribution("acme", source=source, files={"spec.json": spec_named("acme")})
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme")


def test_a_connector_for_another_major_version_is_refused_naming_both(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_declaring(connector_distribution, monkeypatch, "2.0")

    plugins = build_plugin_host(strict=False)

    (status,) = plugins.statuses
    assert not status.available
    assert "'acme' was written for connector contract 2.0" in status.reason
    assert "implements contract 1.0" in status.reason
    assert "acme" not in plugins.connectors and not plugins.pm.has_plugin("acme")


def test_strict_mode_raises_on_an_incompatible_contract_version(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_declaring(connector_distribution, monkeypatch, "2.0")

    with pytest.raises(PluginLoadError, match=r"contract 2\.0.*contract 1\.0"):
        build_plugin_host(strict=True)


def test_a_later_minor_version_of_the_same_major_loads(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_declaring(connector_distribution, monkeypatch, "1.7")

    plugins = build_plugin_host(strict=True)

    assert "acme" in plugins.connectors


def test_a_connector_declaring_no_version_is_taken_as_1x() -> None:
    assert contract_version_problem("legacy", None) is None


@pytest.mark.parametrize("declared", ["1", "one", 1.0, "v1.0"])
def test_a_malformed_contract_version_is_refused_with_the_expected_form(declared: object) -> None:
    problem = contract_version_problem("acme", declared)
    assert problem is not None
    assert "'acme' declares contract_version" in problem and "'MAJOR.MINOR'" in problem
