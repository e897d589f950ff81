"""Instance settings: schema rules, defaults, and the checks the connector adds when built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relaykit import ConfigError, ConnectorHost, InstanceConfig, PluginHost, build_plugin_host
from relaykit_email import EmailConnector
from relaykit_email._settings import EmailSettings
from tests.email.conftest import PASSWORD, make_connector

WHERE = "tenants.north-high.instances.email.settings"


def settings(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "host": "smtp.example.org",
        "from_address": "notifications@north-high.example.com",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465), (None, 587)])
def test_port_defaults_follow_security(security: str | None, port: int) -> None:
    connector = make_connector(settings(security=security))

    assert connector.settings.port == port


def test_clear_text_to_a_remote_host_is_refused_naming_the_fix() -> None:
    with pytest.raises(ConfigError) as raised:
        make_connector(settings(security="none"))

    assert raised.value.location == f"{WHERE}.security"
    assert "starttls" in str(raised.value) and "allow_insecure" in str(raised.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.53"])
def test_clear_text_on_loopback_is_allowed(host: str) -> None:
    assert make_connector(settings(host=host, security="none")).settings.port == 25


def test_allow_insecure_permits_clear_text_to_a_remote_host() -> None:
    connector = make_connector(settings(security="none", allow_insecure=True))

    assert connector.settings.security == "none"


def test_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        make_connector(settings(ca_file=str(tmp_path / "missing.pem")))

    assert raised.value.location == f"{WHERE}.ca_file"


@pytest.mark.parametrize("name", ["from_address", "reply_to", "return_path", "test_recipient"])
def test_invalid_addresses_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_connector(settings(**{name: "school office"}))

    assert raised.value.location == f"{WHERE}.{name}"
    assert "not a valid email address" in str(raised.value)


@pytest.mark.parametrize(("only", "missing"), [("username", "password"), ("password", "username")])
def test_username_and_password_come_together(only: str, missing: str) -> None:
    with pytest.raises(ConfigError) as schema_error:  # the spec's dependentRequired
        make_connector(settings(**{only: "x" * 12}))
    with pytest.raises(ConfigError) as built_error:  # and the connector's own check
        EmailConnector(InstanceConfig("north-high", "email", "email", settings(**{only: "x" * 12})))

    assert "x" * 12 not in str(schema_error.value) + str(built_error.value)
    assert built_error.value.location == f"{WHERE}.{missing}"


def test_settings_arriving_as_strings_from_env_vars_are_usable() -> None:
    connector = make_connector(settings(port="2525", timeout="2.5", allow_insecure="true"))

    assert (connector.settings.port, connector.settings.timeout) == (2525, 2.5)


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="known settings"):
        make_connector(settings(smtp_host="x"))


def test_short_bounce_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as raised:
        make_connector(settings(bounce_secret="short-secret"))

    assert "short-secret" not in str(raised.value)


def test_repr_names_the_instance_and_relay_but_no_secret() -> None:
    connector = make_connector(
        settings(username="u@example.org", password=PASSWORD, bounce_secret="b" * 20)
    )

    shown = repr(connector) + repr(connector.settings) + str(connector.settings)
    assert "north-high/email" in repr(connector) and "smtp.example.org:587" in repr(connector)
    assert PASSWORD not in shown and "b" * 20 not in shown


def test_describe_fields_are_the_spec_rows() -> None:
    fields = PluginHost(strict=True).pm.hook.describe_fields(connector_class=EmailConnector)

    assert fields == EmailConnector.spec().fields()
    assert [(f.host_field, f.direction.value, f.required) for f in fields] == [
        ("Email Message", "outbound", True),
        ("Bounce / Delivery Status", "inbound", False),
    ]


def test_the_host_fills_the_models_defaults_into_the_instance(tmp_path: Path) -> None:
    config_file = tmp_path / "relaykit.toml"
    config_file.write_text(
        '[tenants.north-high.instances.email]\nconnector = "email"\n'
        "[tenants.north-high.instances.email.settings]\n"
        'host = "smtp.example.org"\nfrom_address = "notifications@north-high.example.com"\n'
        'security = "tls"\n',
        "utf-8",
    )
    host = ConnectorHost.from_config(config_file, plugins=build_plugin_host(strict=True))
    config = host.configs["north-high/email"]

    assert isinstance(config.parsed_settings, EmailSettings)
    assert host.connector("north-high/email").settings is config.parsed_settings
    assert config.settings["port"] == 465  # follows security, as the model says
    assert config.settings["timeout"] == 30.0
    assert config.settings["default_subject"] == "New message"


def test_a_rule_only_the_model_knows_is_refused_when_the_host_loads_the_config(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "relaykit.toml"
    config_file.write_text(
        '[tenants.north-high.instances.email]\nconnector = "email"\n'
        "[tenants.north-high.instances.email.settings]\n"
        'host = "smtp.example.org"\nfrom_address = "notifications@north-high.example.com"\n'
        'security = "none"\n',
        "utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        ConnectorHost.from_config(config_file, plugins=build_plugin_host(strict=True))

    assert f"{WHERE}.security: is 'none' but host 'smtp.example.org' is not loopback" in str(
        raised.value
    )
