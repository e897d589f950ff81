"""Settings: TOML, env overrides, secrets directory, instance validation, clear errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from relaykit import ConfigError, ConnectorHost, PluginHost
from relaykit.settings import load_settings
from relaykit.testing import assert_no_secret
from tests.core.conftest import CANARY_SECRET, EXAMPLE_SRC

REPO = Path(__file__).parents[2]


@pytest.fixture
def plugins(plugin_host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> PluginHost:
    from relaykit_outbox import plugin

    plugin_host.register_plugin(plugin, "outbox")
    return plugin_host


def test_toml_file_is_loaded_and_instances_get_their_callback_urls(
    outbox_config: Path, plugins: PluginHost
) -> None:
    host = ConnectorHost.from_config(outbox_config, plugins=plugins)

    config = host.resolve("north-high/sms")
    assert (
        config.callback_url("status") == "https://relay.example.org/webhooks/north-high/sms/status"
    )
    assert isinstance(config.settings["signing_secret"], SecretStr)
    assert host.resolve("sms") is config  # unambiguous short name


def test_env_var_overrides_the_file(
    outbox_config: Path, plugins: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYKIT_PUBLIC_BASE_URL", "https://proxy.example.net/relay/")
    monkeypatch.setenv("RELAYKIT_LOG__LEVEL", "debug")

    host = ConnectorHost.from_config(outbox_config, plugins=plugins)

    assert host.settings.log.level == "debug"
    assert host.resolve("sms").callback_url("status") == (
        "https://proxy.example.net/relay/webhooks/north-high/sms/status"
    )


def test_secret_comes_from_the_secrets_directory(
    tmp_path: Path, plugins: PluginHost, write_config: Callable[[str], Path]
) -> None:
    (tmp_path / "out").mkdir()
    config = write_config(
        '[tenants.acme.instances.sms]\nconnector = "outbox"\n'
        f'[tenants.acme.instances.sms.settings]\ndirectory = "{tmp_path / "out"}"\n'
    )
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "tenants__acme__instances__sms__settings__signing_secret").write_text(CANARY_SECRET)

    host = ConnectorHost.from_config(config, plugins=plugins, secrets_dir=secrets)

    assert host.resolve("sms").settings["signing_secret"].get_secret_value() == CANARY_SECRET


def test_missing_required_setting_names_tenant_instance_and_field(
    tmp_path: Path, plugins: PluginHost, write_config: Callable[[str], Path]
) -> None:
    config = write_config(
        '[tenants.acme.instances.sms]\nconnector = "outbox"\n'
        '[tenants.acme.instances.sms.settings]\ndirectory = "/tmp"\n'
    )
    with pytest.raises(ConfigError) as raised:
        ConnectorHost.from_config(config, plugins=plugins)
    assert "tenants.acme.instances.sms.settings.signing_secret: is required" in str(raised.value)
    assert "HMAC-SHA256" in str(raised.value)  # the field's description says what it is


def test_invalid_secret_is_reported_without_echoing_it(
    plugins: PluginHost, write_config: Callable[[str], Path]
) -> None:
    short_secret = "tooShort-9f"
    config = write_config(
        '[tenants.acme.instances.sms]\nconnector = "outbox"\n'
        '[tenants.acme.instances.sms.settings]\ndirectory = "/tmp"\n'
        f'signing_secret = "{short_secret}"\n'
    )
    with pytest.raises(ConfigError) as raised:
        ConnectorHost.from_config(config, plugins=plugins)
    message = str(raised.value)
    assert "tenants.acme.instances.sms.settings.signing_secret" in message
    assert "minLength" in message and short_secret not in message


def test_unknown_connector_lists_the_installed_ones(
    plugins: PluginHost, write_config: Callable[[str], Path]
) -> None:
    config = write_config('[tenants.acme.instances.sms]\nconnector = "twillio"\n')
    with pytest.raises(
        ConfigError, match=r"instances.sms.connector: no connector named 'twillio'.*outbox"
    ):
        ConnectorHost.from_config(config, plugins=plugins)


def test_misspelled_top_level_setting_is_named_with_a_fix(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config('public_base_ur = "https://relay.example.org"\n')
    with pytest.raises(ConfigError, match=r"public_base_ur: .*unknown setting"):
        load_settings(config)


def test_pydantic_errors_do_not_echo_secret_input(
    write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PITFALLS 2: a validation error must not print the input value (a secret, here)."""
    monkeypatch.setenv("RELAYKIT_PUBLIC_BASE_URL", CANARY_SECRET)
    with pytest.raises(ConfigError) as raised:
        load_settings(write_config(""))
    assert "public_base_url" in str(raised.value)
    assert CANARY_SECRET not in str(raised.value)


def test_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_example_config_is_valid(plugins: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(REPO / "relaykit.example.toml")
    assert settings.tenants, "the example config should show at least one tenant"


def test_root_level_schema_errors_do_not_print_the_settings() -> None:
    """jsonschema quotes the whole settings object for a root anyOf failure: secrets included."""
    import json

    from relaykit import ConnectorSpec
    from relaykit.instances import validate_instance_settings

    document = json.loads((EXAMPLE_SRC / "relaykit_outbox" / "spec.json").read_text())
    document["settings_schema"]["anyOf"] = [{"required": ["test_recipient"]}]
    spec = ConnectorSpec.from_document(document)

    with pytest.raises(ConfigError) as raised:
        validate_instance_settings(spec, {"directory": "/tmp", "signing_secret": CANARY_SECRET})

    assert "anyOf" in str(raised.value) and CANARY_SECRET not in str(raised.value)


def test_example_config_validates_against_the_installed_connectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The annotated example is a working config once its secrets are supplied."""
    from relaykit import build_plugin_host

    prefix = "RELAYKIT_TENANTS__NORTH-HIGH__INSTANCES__"
    monkeypatch.setenv(prefix + "SMS__SETTINGS__AUTH_TOKEN", "0" * 32)
    monkeypatch.setenv(prefix + "MAIL__SETTINGS__PASSWORD", "example-password")
    host = ConnectorHost.from_config(REPO / "relaykit.example.toml", plugins=build_plugin_host())

    assert sorted(host.configs) == ["north-high/mail", "north-high/sms"]
    assert host.settings.tenants["north-high"].route_for("otp") is not None


def test_settings_repr_masks_auth_token_and_smtp_password(
    tmp_path: Path, write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings object travels (reprs, debuggers, JSON dumps): it must not carry secrets."""
    from relaykit import Relay
    from relaykit.plugins import build_plugin_host

    monkeypatch.delenv("RELAYKIT_LOAD_PLUGINS", raising=False)
    token, password = "tok-" + CANARY_SECRET, "pw-" + CANARY_SECRET
    config = write_config(
        f'data_dir = "{tmp_path / "data"}"\n'
        '[tenants.acme.instances.sms]\nconnector = "twilio"\n'
        "[tenants.acme.instances.sms.settings]\n"
        f'account_sid = "AC{"0" * 32}"\nauth_token = "{token}"\nsms_sender = "+15005550006"\n'
        '[tenants.acme.instances.mail]\nconnector = "email"\n'
        "[tenants.acme.instances.mail.settings]\n"
        'host = "smtp.example.org"\nfrom_address = "office@example.org"\n'
        f'username = "office"\npassword = "{password}"\n'
    )
    relay = Relay.from_config(config, plugins=build_plugin_host(strict=True))
    try:
        settings = relay.host.settings
        for shown in (repr(settings), str(settings), settings.model_dump_json()):
            assert "acme" in shown and "smtp.example.org" in shown  # the rest is still there
            assert_no_secret(shown, [token, password], where="the settings object")
        # the connectors still get the real values
        live = relay.host.resolve("acme/mail").settings["password"]
        assert live.get_secret_value() == password
    finally:
        relay.close()


def test_settings_repr_masks_the_database_password(write_config: Callable[[str], Path]) -> None:
    password = "db-" + CANARY_SECRET
    settings = load_settings(
        write_config("[tenants.acme]\n"),
        database_url=f"postgresql://relay:{password}@db.internal/relay",
    )

    assert settings.database_url and password in settings.database_url  # the store needs it
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert_no_secret(shown, [password], where="the settings object")
    assert "db.internal" in settings.model_dump_json()
    from relaykit.redaction import redact

    assert_no_secret(redact(f"connection to {settings.database_url} failed"), [password])
