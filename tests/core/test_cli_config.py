"""Configurations that used to be accepted and then broke: each is exit 2, naming field and fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from relaykit.cli import app

pytestmark = pytest.mark.usefixtures("only_outbox")

RECIPIENT = json.dumps({"id": "stu-1", "kind": "student", "phones": [{"number": "+15005550080"}]})


def invoke(cli: CliRunner, config: Path, *args: str) -> Result:
    return cli.invoke(app, ["--config", str(config), *args])


def assert_config_error(result: Result, *expected: str) -> None:
    """Exit 2, no traceback, and the message holds every expected piece (field, fix)."""
    assert result.exit_code == 2, f"exit {result.exit_code} ({result.exception!r}): {result.output}"
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.output, result.output


def append(config: Path, text: str) -> Path:
    with config.open("a") as file:
        file.write(text)
    return config


def edit(config: Path, old: str, new: str) -> Path:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))
    return config


def test_sender_pool_entry_that_is_not_e164_exits_2_naming_it(
    cli: CliRunner, outbox_config: Path
) -> None:
    config = append(
        outbox_config, '[tenants.north-high.two_way]\nsender_pool = ["12345"]\ninstance = "sms"\n'
    )

    assert_config_error(
        invoke(cli, config, "config", "validate"),
        "tenants.north-high.two_way.sender_pool",
        "'12345'",
        "E.164",
        "+447700900100",
    )


@pytest.mark.parametrize("tail", ["?a=1", "#top", "/relay?a=1#top"])
def test_public_base_url_with_a_query_or_fragment_exits_2(
    cli: CliRunner, outbox_config: Path, tail: str
) -> None:
    config = edit(
        outbox_config, '"https://relay.example.org"', f'"https://relay.example.org{tail}"'
    )

    assert_config_error(
        invoke(cli, config, "config", "validate"),
        "public_base_url",
        "query" if "?" in tail else "fragment",
        "https://relay.example.org",
    )


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("tenants.north-high", 'tenants."north/high"', "tenant 'north/high'"),
        ("instances.sms", 'instances."s ms"', "instance 's ms'"),
        ("instances.sms", 'instances.".."', "instance '..'"),
    ],
)
def test_tenant_or_instance_name_that_cannot_be_a_url_path_segment_exits_2(
    cli: CliRunner, outbox_config: Path, old: str, new: str, where: str
) -> None:
    config = edit(outbox_config, old, new)

    assert_config_error(
        invoke(cli, config, "config", "validate"),
        f"{where} cannot",
        "/webhooks/",
        "letters, digits",
    )


def test_non_boolean_string_for_a_boolean_exits_2(cli: CliRunner, outbox_config: Path) -> None:
    config = append(outbox_config, '[delivery]\ninline = "yes"\n')

    assert_config_error(
        invoke(cli, config, "config", "validate"),
        "delivery.inline",
        "true or false",
    )


def test_boolean_from_an_env_var_is_still_accepted(
    cli: CliRunner, outbox_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Env vars can only be strings: "false" (any case) is the boolean false."""
    monkeypatch.setenv("RELAYKIT_DELIVERY__INLINE", "False")
    from relaykit.settings import load_settings

    assert load_settings(outbox_config).delivery.inline is False
    assert invoke(cli, outbox_config, "config", "validate").exit_code == 0


def test_unsupported_database_url_scheme_exits_2_at_validate_and_serve(
    cli: CliRunner, outbox_config: Path
) -> None:
    config = edit(outbox_config, "public_base_url", 'database_url = "mysql://relay@db/relay"\n#')

    for command in (["config", "validate"], ["serve", "--port", "0"]):
        assert_config_error(
            invoke(cli, config, *command), "database_url", "'mysql'", "sqlite:///", "postgresql://"
        )


def test_data_dir_that_is_a_file_exits_2_at_validate_and_notify(
    cli: CliRunner, outbox_config: Path, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    config = edit(outbox_config, "public_base_url", f'data_dir = "{tmp_path / "a-file"}"\n#')

    for command in (
        ["config", "validate"],
        ["notify", "attendance_absence", "--recipient", RECIPIENT],
    ):
        assert_config_error(invoke(cli, config, *command), "data_dir", "a-file", "directory")


def test_empty_config_file_says_it_configures_nothing(cli: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text("# nothing here yet\n")

    assert_config_error(
        invoke(cli, config, "config", "validate"),
        str(config),
        "configures nothing",
        "relaykit.example.toml",
    )


def test_postgresql_database_url_uses_the_shipped_psycopg_driver(outbox_config: Path) -> None:
    """``postgresql://`` would mean psycopg2 to SQLAlchemy, which relaykit does not install."""
    from relaykit.settings import load_settings
    from relaykit.store.engine import create_store_engine

    settings = load_settings(outbox_config, database_url="postgresql://relay@db.invalid/relay")

    assert settings.database_url == "postgresql+psycopg://relay@db.invalid/relay"
    create_store_engine(settings.database_url).dispose()  # imports the driver; connects lazily
