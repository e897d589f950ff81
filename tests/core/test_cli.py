"""The ``relaykit`` CLI as an integrator uses it, on the example connector."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaykit.cli import app
from relaykit.testing import DistributionWriter, assert_no_secret
from tests.core.conftest import CANARY_SECRET

pytestmark = pytest.mark.usefixtures("only_outbox")


def run(cli: CliRunner, *args: str) -> tuple[int, str]:
    """Exit code and stdout (logs go to stderr); for --json commands stdout is the document."""
    result = cli.invoke(app, list(args))
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_connectors_list_json_is_stable(cli: CliRunner) -> None:
    code, output = run(cli, "connectors", "list", "--json")

    assert code == 0
    assert json.loads(output) == [
        {
            "available": True,
            "channels": ["sms", "email", "pager"],
            "distribution": "relaykit-outbox",
            "name": "outbox",
            "reason": "",
            "title": "Outbox file (example)",
            "version": "1.0.0",
        }
    ]


def test_connectors_list_shows_an_unavailable_plugin_with_its_reason(
    cli: CliRunner, connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector_distribution("broken", source="raise ImportError('needs libfoo 2')\n")
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "outbox,broken")
    monkeypatch.delenv("RELAYKIT_STRICT_PLUGINS")

    code, output = run(cli, "connectors", "list", "--json")

    rows = {row["name"]: row for row in json.loads(output)}
    assert code == 0
    assert rows["outbox"]["available"]
    assert not rows["broken"]["available"] and "needs libfoo 2" in rows["broken"]["reason"]


def test_connectors_describe_shows_fields_prerequisites_and_limitations(cli: CliRunner) -> None:
    code, output = run(cli, "connectors", "describe", "outbox")

    assert code == 0
    for expected in (
        "signing_secret",
        "message.to",
        "A writable directory",
        "platform",
        "outbox.jsonl",
    ):
        assert expected in output or expected == "outbox.jsonl"
    assert "Nothing is delivered to a person" in output


def test_connectors_describe_json_prints_the_spec_document(cli: CliRunner) -> None:
    code, output = run(cli, "connectors", "describe", "outbox", "--json")
    assert code == 0
    assert json.loads(output)["settings_schema"]["properties"]["signing_secret"]["x-secret"] is True


def test_describing_an_unknown_connector_fails_naming_the_installed_ones(cli: CliRunner) -> None:
    code, output = run(cli, "connectors", "describe", "twillio")
    assert code == 1
    assert "no connector named 'twillio'" in output and "outbox" in output


def test_config_validate_lists_instances(cli: CliRunner, outbox_config: Path) -> None:
    code, output = run(cli, "--config", str(outbox_config), "config", "validate", "--json")
    assert code == 0
    assert json.loads(output) == {
        "valid": True,
        "instances": [{"connector": "outbox", "instance": "north-high/sms"}],
    }


def test_bad_config_exits_2_naming_tenant_instance_and_field(
    cli: CliRunner, outbox_config: Path
) -> None:
    outbox_config.write_text(outbox_config.read_text().replace("signing_secret", "signing_secrte"))

    code, output = run(cli, "--config", str(outbox_config), "config", "validate")

    assert code == 2
    assert "tenants.north-high.instances.sms.settings" in output
    assert "signing_secret: is required" in output
    assert_no_secret(output, [CANARY_SECRET], where="CLI output")


def test_check_reports_connected_and_exits_0(cli: CliRunner, outbox_config: Path) -> None:
    code, output = run(cli, "--config", str(outbox_config), "check", "north-high/sms", "--json")

    assert code == 0
    report = json.loads(output)
    assert report == {
        "connected": True,
        "connector": "outbox",
        "detail": "",
        "instance": "north-high/sms",
        "senders": [],  # a connector that reports no senders still works
        "state": "connected",
        "test_send": None,
    }


def test_check_reports_the_reason_and_exits_1_when_not_connected(
    cli: CliRunner, outbox_config: Path, tmp_path: Path
) -> None:
    shutil.rmtree(tmp_path / "outbox")

    code, output = run(cli, "--config", str(outbox_config), "check", "sms")

    assert code == 1
    assert "Not connected" in output and "misconfigured" in output and "does not exist" in output


def test_check_send_test_sends_to_the_test_recipient(
    cli: CliRunner, outbox_config: Path, tmp_path: Path
) -> None:
    code, output = run(cli, "-c", str(outbox_config), "check", "sms", "--send-test", "--json")

    assert code == 0
    sent = json.loads(output)["test_send"]
    written = json.loads((tmp_path / "outbox" / "outbox.jsonl").read_text())
    assert sent["ok"] and sent["provider_message_id"] == written["id"]
    assert written["to"] == "+15005550006" and "relaykit test message" in written["body"]
    assert_no_secret(output, [CANARY_SECRET], where="CLI output")


def test_check_unknown_instance_exits_2(cli: CliRunner, outbox_config: Path) -> None:
    code, output = run(cli, "-c", str(outbox_config), "check", "north-high/whatsapp")
    assert code == 2
    assert "no instance 'north-high/whatsapp'" in output and "north-high/sms" in output


def test_specs_export_writes_then_checks_clean(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "specs"
    code, _ = run(cli, "specs", "export", "--dir", str(out))
    assert code == 0
    assert json.loads((out / "outbox.json").read_text())["id"] == "outbox"
    assert (out / "connector-spec.schema.json").is_file()

    assert run(cli, "specs", "export", "--dir", str(out), "--check")[0] == 0
    (out / "outbox.json").write_text("{}")
    code, output = run(cli, "specs", "export", "--dir", str(out), "--check")
    assert code == 1 and "out of date" in output


def test_a_connectors_own_config_check_exits_2_naming_the_field(
    cli: CliRunner,
    write_config,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """The email connector refuses plain SMTP to a remote host when it is built: a config error."""
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "email")
    config = write_config(
        '[tenants.acme.instances.mail]\nconnector = "email"\n'
        '[tenants.acme.instances.mail.settings]\nhost = "smtp.example.org"\nsecurity = "none"\n'
        'from_address = "office@example.org"\n'
    )

    result = cli.invoke(app, ["--config", str(config), "check", "mail"])

    assert result.exit_code == 2
    assert "tenants.acme.instances.mail.settings.security" in result.output
    assert "Traceback" not in result.output
