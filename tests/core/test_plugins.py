"""Connector discovery from entry points, isolation of broken plugins, registration rules."""

from __future__ import annotations

import json

import pytest

import relaykit
from relaykit import PluginHost, PluginLoadError, build_plugin_host
from relaykit.testing import DistributionWriter
from tests.core.conftest import EXAMPLE_SRC

SPEC = (EXAMPLE_SRC / "relaykit_outbox" / "spec.json").read_text("utf-8")

CONNECTOR_SOURCE = """
import relaykit
from relaykit_outbox.connector import OutboxConnector

class {cls}(OutboxConnector):
    name = "{name}"

    @classmethod
    def spec(cls):
        return relaykit.load_spec_resource(__package__)

@relaykit.hookimpl
def register_connectors(register):
    register({cls})
"""


def spec_named(name: str, **changes: object) -> str:
    document = json.loads(SPEC)
    document["id"] = name
    document.update(changes)
    return json.dumps(document)


def install(
    connector_distribution: DistributionWriter,
    name: str,
    *,
    source: str | None = None,
    spec: str | None = None,
    dist: str | None = None,
) -> None:
    connector_distribution(
        name,
        source=source if source is not None else CONNECTOR_SOURCE.format(cls="Acme", name=name),
        files={"spec.json": spec if spec is not None else spec_named(name)},
        dist=dist,
    )


def test_connector_is_discovered_through_its_entry_point(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(connector_distribution, "acme")
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme")

    plugins = build_plugin_host(strict=True)

    entry = plugins.connectors.get("acme")
    assert (entry.distribution, entry.version) == ("relaykit-acme", "1.0.0")
    assert entry.spec.id == "acme"


def test_first_party_connectors_are_discovered() -> None:
    plugins = build_plugin_host(strict=True)
    statuses = {s.name: s for s in plugins.statuses}
    assert statuses["twilio"].distribution == "relaykit-twilio"
    assert statuses["email"].distribution == "relaykit-email"
    assert all(s.available for s in statuses.values())


def test_plugin_that_fails_to_import_is_unavailable_and_the_others_work(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(connector_distribution, "acme")
    install(connector_distribution, "broken", source="raise ImportError('needs libfoo 2')\n")
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme,broken")

    plugins = build_plugin_host(strict=False)

    broken = next(s for s in plugins.statuses if s.name == "broken")
    assert not broken.available
    assert "needs libfoo 2" in broken.reason and "import failed" in broken.reason
    assert "acme" in plugins.connectors


def test_strict_mode_raises_on_a_broken_plugin(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(connector_distribution, "broken", source="raise ImportError('needs libfoo 2')\n")
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "broken")
    monkeypatch.setenv("RELAYKIT_STRICT_PLUGINS", "1")

    with pytest.raises(PluginLoadError, match=r"'broken' is unavailable.*needs libfoo 2"):
        build_plugin_host()


def test_plugin_whose_registration_fails_is_fully_unregistered(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = CONNECTOR_SOURCE.format(cls="Acme", name="acme") + (
        "\n@relaykit.hookimpl\ndef register_sandboxes(register):\n    raise RuntimeError('boom')\n"
    )
    install(connector_distribution, "acme", source=source)
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme")

    plugins = build_plugin_host(strict=False)

    assert not plugins.pm.has_plugin("acme")
    assert "acme" not in plugins.connectors
    (status,) = plugins.statuses
    assert not status.available and "boom" in status.reason


def test_connector_whose_spec_breaks_the_meta_schema_is_unavailable(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(connector_distribution, "acme", spec=spec_named("acme", channels=["pigeon"]))
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme")

    plugins = build_plugin_host(strict=False)

    (status,) = plugins.statuses
    assert not status.available
    assert "invalid at channels/0" in status.reason
    assert "acme" not in plugins.connectors and not plugins.pm.has_plugin("acme")


def test_duplicate_connector_name_is_an_error_naming_both_distributions(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(connector_distribution, "acme", dist="relaykit-acme")
    connector_distribution(
        "acme",
        source=CONNECTOR_SOURCE.format(cls="AcmeFork", name="acme"),
        files={"spec.json": spec_named("acme")},
        dist="acme-fork",
        module="acme_fork",
    )
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme")

    with pytest.raises(
        PluginLoadError,
        match=r"both 'relaykit-acme' and 'acme-fork'",
    ):
        build_plugin_host(strict=True)


def test_load_plugins_set_but_empty_loads_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "")
    plugins = build_plugin_host(strict=True)
    assert len(plugins.connectors) == 0 and plugins.statuses == []


def test_a_plugin_implementing_the_send_hook_itself_is_refused(plugin_host: PluginHost) -> None:
    class Hijacker:
        @relaykit.hookimpl
        def send(self, connector, message):  # type: ignore[no-untyped-def]
            return None

    plugin_host.strict = False
    status = plugin_host.register_plugin(Hijacker(), "hijacker")

    assert not status.available and "only the core may" in status.reason
    assert not plugin_host.pm.has_plugin("hijacker")


def test_connector_registered_after_start_up_is_replayed_into_the_registry(
    plugin_host: PluginHost,
) -> None:
    from relaykit_outbox import plugin

    plugin_host.register_plugin(plugin, "outbox")

    assert plugin_host.connectors.get("outbox").connector_class.name == "outbox"


def test_entry_point_name_must_match_connector_name(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector_distribution(
        "acme",
        source=CONNECTOR_SOURCE.format(cls="Acme", name="acme-sms"),
        files={"spec.json": spec_named("acme-sms")},
    )
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme")

    with pytest.raises(PluginLoadError, match="name the entry point after the connector"):
        build_plugin_host(strict=True)


def test_importing_connector_plugins_stays_cheap() -> None:
    """Entry-point modules only register: the SDKs are imported on first use."""
    import subprocess
    import sys

    code = (
        "import sys; from relaykit import build_plugin_host; build_plugin_host(strict=True);"
        "print(','.join(m for m in ('twilio.rest', 'aiosmtplib', 'aiohttp') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_trace_plugins_logs_every_hook_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import json as _json

    from relaykit.testing import captured_logs

    monkeypatch.setenv("RELAYKIT_TRACE_PLUGINS", "1")
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "email")
    with captured_logs("debug") as logs:
        plugins = build_plugin_host(strict=True)
        entry = plugins.connectors.get("email")
        plugins.pm.hook.describe_fields(connector_class=entry.connector_class)

    events = [_json.loads(line) for line in logs.getvalue().splitlines()]
    calls = [e for e in events if e["event"] == "hook_call" and e["hook"] == "describe_fields"]
    assert calls and "relaykit.core" in calls[0]["plugins"]
