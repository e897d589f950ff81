"""The meta-schema and the published spec documents in connector_specs/ never drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import relaykit
from relaykit import (
    ConnectorSpec,
    PluginHost,
    RegisterConnector,
    SpecValidationError,
    build_plugin_host,
)
from relaykit.cli._specs import published_documents, render
from relaykit.spec import META_SCHEMA_RESOURCE, meta_schema

PUBLISHED = Path(__file__).parents[2] / "connector_specs"
FIRST_PARTY = ["twilio", "email"]
FIX = "regenerate with: uv run relaykit specs export"


def test_meta_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(meta_schema())


def test_published_meta_schema_mirror_matches_the_runtime_copy() -> None:
    mirror = (PUBLISHED / META_SCHEMA_RESOURCE).read_text("utf-8")
    assert mirror == render(meta_schema()), FIX


@pytest.mark.parametrize("name", FIRST_PARTY)
def test_published_connector_spec_matches_what_the_installed_connector_declares(name: str) -> None:
    plugins = build_plugin_host(strict=True)
    expected = published_documents(plugins, [name])[f"{name}.json"]
    assert (PUBLISHED / f"{name}.json").read_text("utf-8") == expected, FIX


@pytest.mark.parametrize("name", FIRST_PARTY)
def test_first_party_spec_has_prerequisites_with_owners_and_limitations(name: str) -> None:
    spec = build_plugin_host(strict=True).connectors.get(name).spec
    owners = {p["owner"] for p in spec.document["prerequisites"]}
    assert owners == {"customer", "platform"}
    assert spec.document["limitations"]
    assert spec.secret_settings, "a first-party connector has credentials to keep secret"


def test_spec_with_a_settings_property_lacking_a_description_is_rejected() -> None:
    document = json.loads((PUBLISHED / "connector-spec.schema.json").read_text())
    example = {
        "id": "acme",
        "title": "Acme",
        "version": "1.0.0",
        "channels": ["sms"],
        "auth_methods": [{"id": "key", "description": "API key", "settings": ["key"]}],
        "settings_schema": {"type": "object", "properties": {"key": {"type": "string"}}},
        "data_fields": [
            {
                "host_field": "to",
                "vendor_field": "To",
                "direction": "outbound",
                "required": True,
                "description": "",
            }
        ],
        "prerequisites": [],
        "limitations": [],
        "callbacks": [],
    }
    assert document["title"] == "relaykit connector spec"
    with pytest.raises(SpecValidationError, match="settings_schema/properties/key"):
        ConnectorSpec.from_document(example)
    example["settings_schema"]["properties"]["key"]["description"] = "Acme API key"
    assert ConnectorSpec.from_document(example).id == "acme"


def test_the_drift_test_catches_a_settings_model_changed_without_export(
    plugin_host: PluginHost,
) -> None:
    from pydantic import Field

    from relaykit_twilio import TwilioConnector
    from relaykit_twilio.settings import TwilioSettings

    class Changed(TwilioSettings):
        max_body_length: int = Field(900, ge=1, le=1600, description="a changed default")

    class ChangedTwilio(TwilioConnector):
        settings_model = Changed

    class Plugin:
        @relaykit.hookimpl
        def register_connectors(self, register: RegisterConnector) -> None:
            register(ChangedTwilio)

    assert plugin_host.register_plugin(Plugin(), "changed-twilio").available
    expected = published_documents(plugin_host, ["twilio"])["twilio.json"]

    schema = json.loads(expected)["settings_schema"]
    assert schema["properties"]["max_body_length"]["default"] == 900
    assert (PUBLISHED / "twilio.json").read_text("utf-8") != expected
