"""Settings: the spec validates, bad values are explained by field and fix, secrets never shown."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from pydantic import SecretStr

from relaykit import ConfigError, ConnectorHost, ConnectorSpec, PluginHost, build_plugin_host
from relaykit.instances import validate_instance_settings
from relaykit.testing import assert_no_secret
from relaykit_twilio import TwilioConnector
from relaykit_twilio.senders import SenderKind, parse_sender, sender_problem
from relaykit_twilio.settings import TwilioSettings
from tests.twilio.connector_fixtures import ACCOUNT_SID, AUTH_TOKEN

LOCATION = "tenants.north-high.instances.sms.settings"


def validate(**settings: object) -> dict[str, object]:
    raw = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, **settings}
    return validate_instance_settings(TwilioConnector.spec(), raw, location=LOCATION)


def test_spec_document_passes_the_meta_schema_and_lists_both_callbacks() -> None:
    text = resources.files("relaykit_twilio").joinpath("spec.json").read_text("utf-8")
    spec = ConnectorSpec.from_document(json.loads(text))
    assert spec.id == "twilio"
    assert spec.channels[0].value == "sms"  # `relaykit check --send-test` uses the first
    assert spec.callback_kinds == ("status", "inbound")
    assert spec.secret_settings == {"auth_token"}
    owners = {p["what"]: p["owner"] for p in spec.document["prerequisites"]}
    assert owners["Account SID and Auth Token in relaykit's configuration"] == "platform"
    assert "customer" in owners.values()


def test_describe_fields_returns_the_spec_rows() -> None:
    fields = PluginHost(strict=True).pm.hook.describe_fields(connector_class=TwilioConnector)
    assert fields == TwilioConnector.spec().fields()
    assert [f.host_field for f in fields] == [
        "SMS Message",
        "WhatsApp Message",
        "Delivery Status",
        "Inbound Message",
        "Opt-out",
    ]
    assert [f.required for f in fields][:2] == [True, False]


@pytest.mark.parametrize(
    ("sender", "kind"),
    [
        ("+15017122661", SenderKind.PHONE_NUMBER),
        ("MG" + "0123456789abcdef" * 2, SenderKind.MESSAGING_SERVICE),
        ("NorthHigh", SenderKind.ALPHANUMERIC),
        ("North High", SenderKind.ALPHANUMERIC),
        ("MG Motors", SenderKind.ALPHANUMERIC),
    ],
)
def test_each_accepted_sender_form_passes_schema_and_connector(
    sender: str, kind: SenderKind
) -> None:
    assert validate(sms_sender=sender)["sms_sender"] == sender
    assert parse_sender(sender).kind is kind


@pytest.mark.parametrize(
    ("sender", "explains"),
    [
        ("Springfield High", "is 16 characters; at most 11"),
        ("12345", "digits only; it must contain at least one letter"),
        ("15017122661", "looks like a phone number: write it in E.164 form with a leading +"),
        ("North-High", "contains '-'; only ASCII letters, digits and spaces"),
        ("Café", "contains 'é'; only ASCII letters, digits and spaces"),
        ("+1 501 712 2661", "not an E.164 phone number"),
        ("+0123456789", "not an E.164 phone number"),
        ("MGabc123", "looks like a Messaging Service SID but is not MG followed by exactly 32"),
        ("", "is empty"),
    ],
)
def test_each_bad_sender_form_is_refused_naming_the_field_and_the_fix(
    sender: str, explains: str
) -> None:
    with pytest.raises(ConfigError) as schema_error:
        validate(sms_sender=sender)
    message = str(schema_error.value)
    assert f"{LOCATION}.sms_sender" in message
    assert "E.164" in message and "Messaging Service SID" in message  # the three forms
    assert "alphanumeric sender ID (1-11 ASCII letters, digits and spaces" in message
    assert_no_secret(message, [AUTH_TOKEN], where="the validation error")
    problem = sender_problem(sender)
    assert problem is not None and explains in problem


def test_connector_names_the_exact_sender_problem_when_config_bypasses_the_schema() -> None:
    from relaykit import InstanceConfig

    config = InstanceConfig(
        tenant="north-high",
        name="sms",
        connector="twilio",
        settings={
            "account_sid": ACCOUNT_SID,
            "auth_token": SecretStr(AUTH_TOKEN),
            "sms_sender": "Springfield High",
        },
    )
    with pytest.raises(ConfigError) as error:
        TwilioConnector(config)
    assert str(error.value).startswith(f"{LOCATION}.sms_sender: alphanumeric sender ID")
    assert "at most 11 are allowed (e.g. 'Springfield')" in str(error.value)


def test_whatsapp_sender_refuses_an_alphanumeric_id() -> None:
    with pytest.raises(ConfigError, match=r"settings\.whatsapp_sender"):
        validate(whatsapp_sender="NorthHigh")
    assert "cannot send WhatsApp messages" in (sender_problem("NorthHigh", whatsapp=True) or "")
    assert validate(whatsapp_sender="whatsapp:+15017122661")["whatsapp_sender"]


def test_a_bad_auth_token_is_explained_without_echoing_it() -> None:
    secret = "short"
    with pytest.raises(ConfigError) as error:
        validate_instance_settings(
            TwilioConnector.spec(),
            {"account_sid": ACCOUNT_SID, "auth_token": secret},
            location=LOCATION,
        )
    assert f"{LOCATION}.auth_token: is not valid" in str(error.value)
    assert "'short'" not in str(error.value)


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("account_sid", "AC123", "does not match"),
        ("allowed_countries", ["us"], "does not match"),
        ("default_region", "USA", "does not match"),
        ("max_body_length", 2000, "is greater than the maximum of 1600"),
        ("api_base_url", "http://user:pass@127.0.0.1:9", "does not match"),
        ("test_recipient", "0044 20 7946 0958", "does not match"),
    ],
)
def test_other_bad_settings_name_field_and_expectation(
    setting: str, value: object, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        validate(**{setting: value})
    assert f"{LOCATION}.{setting}: " in str(error.value)
    assert expected in str(error.value)
    assert "expected: " in str(error.value)


def test_defaults_apply_and_the_token_stays_wrapped(twilio_config) -> None:  # type: ignore[no-untyped-def]
    connector = TwilioConnector(twilio_config())
    s = connector.settings
    assert s.max_body_length == 1000
    assert s.api_base_url == "https://api.twilio.com"
    assert s.allowed_countries is None and s.default_region is None
    assert s.request_timeout_seconds == 15.0
    assert s.max_connections == 100
    assert AUTH_TOKEN not in repr(connector) + repr(s) + str(connector)
    assert s.auth_token.get_secret_value() == AUTH_TOKEN


def test_settings_arriving_as_env_strings_are_converted() -> None:
    values = validate(allowed_countries="US, GB", max_body_length="480")
    assert values["allowed_countries"] == ["US", "GB"]
    assert values["max_body_length"] == 480


def test_the_host_parses_once_and_its_defaults_reach_mapping_and_connector(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "relaykit.toml"
    config_file.write_text(
        '[tenants.north-high.instances.sms]\nconnector = "twilio"\n'
        "[tenants.north-high.instances.sms.settings]\n"
        f'account_sid = "{ACCOUNT_SID}"\nauth_token = "{AUTH_TOKEN}"\nsms_sender = "NorthHigh"\n',
        "utf-8",
    )
    host = ConnectorHost.from_config(config_file, plugins=build_plugin_host(strict=True))
    config = host.configs["north-high/sms"]

    assert isinstance(config.parsed_settings, TwilioSettings)
    assert host.connector("north-high/sms").settings is config.parsed_settings
    assert config.settings["max_body_length"] == config.parsed_settings.max_body_length == 1000
    assert config.settings["api_base_url"] == "https://api.twilio.com"
    assert config.settings["request_timeout_seconds"] == 15.0
    assert isinstance(config.settings["auth_token"], SecretStr)
    assert "sms_sender" in config.settings and "default_region" not in config.settings
    assert_no_secret(repr(config) + repr(config.parsed_settings), [AUTH_TOKEN], where="reprs")
