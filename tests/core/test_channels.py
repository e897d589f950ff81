"""Channels are declared, not enumerated: open channel kinds, address kinds, load-time refusals."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from relaykit import ConnectorSpec, PluginLoadError, SpecValidationError, build_plugin_host
from relaykit.contract import AddressKind, Channel, DeclaredChannel, InvalidAddressError
from relaykit.recipients import Recipient
from relaykit.testing import DistributionWriter
from relaykit_outbox.connector import OutboxConnector
from tests.core.test_plugins import CONNECTOR_SOURCE, SPEC, spec_named

PAGER = {"kind": "pager", "address_kind": "pager_id", "example": "PG-012345"}

#: A connector serving a pager channel with its own address kind, but without normalize_address.
NO_NORMALIZER_SOURCE = """
import relaykit
from relaykit_outbox.connector import OutboxConnector

class Acme:
    name = "acme"
    contract_version = "1.0"
    __init__ = OutboxConnector.__init__
    authenticate = OutboxConnector.authenticate
    send = OutboxConnector.send
    handle_callback = OutboxConnector.handle_callback
    aclose = OutboxConnector.aclose

    @classmethod
    def spec(cls):
        return relaykit.load_spec_resource(__package__)

    @classmethod
    def describe_fields(cls):
        return cls.spec().fields()

@relaykit.hookimpl
def register_connectors(register):
    register(Acme)
"""


def spec_document(channels: list[object]) -> dict[str, object]:
    document: dict[str, object] = json.loads(SPEC)
    document["channels"] = channels
    return document


def test_a_channel_kind_is_any_lower_case_identifier_and_the_shipped_ones_stay_constants() -> None:
    adapter = TypeAdapter(Channel)

    assert adapter.validate_python("pager") == "pager"
    assert adapter.validate_python("sms") is Channel.SMS
    assert list(Channel) == [Channel.SMS, Channel.WHATSAPP, Channel.EMAIL]
    assert Channel.EMAIL.value == "email" and f"{Channel('pager')}" == "pager"
    for bad in ("Pager", "2way", "", "pager-id", "x" * 33):
        with pytest.raises(ValidationError, match="is not a valid channel kind"):
            adapter.validate_python(bad)


def test_the_spec_declares_each_channel_with_its_address_kind() -> None:
    spec = ConnectorSpec.from_document(spec_document(["sms", "email", PAGER]))

    assert spec.channels == (Channel.SMS, Channel.EMAIL, Channel("pager"))
    assert spec.declared_channels[2] == DeclaredChannel(
        Channel("pager"), AddressKind("pager_id"), example="PG-012345"
    )
    assert spec.address_kind(Channel.SMS) == AddressKind.PHONE
    assert spec.address_kind("email") == AddressKind.EMAIL
    assert spec.address_kind("pager") == "pager_id"
    assert spec.address_kind(Channel.WHATSAPP) is None


def test_a_custom_channel_named_alone_is_refused_saying_how_to_declare_it() -> None:
    with pytest.raises(SpecValidationError) as caught:
        ConnectorSpec.from_document(spec_document(["sms", "pager"]))

    message = str(caught.value)
    assert "channels/1: 'pager' is not a channel relaykit ships" in message
    assert '{"kind": "pager", "address_kind": "..."}' in message


def test_a_channel_declared_twice_is_refused() -> None:
    with pytest.raises(SpecValidationError, match="declares channel 'sms' more than once"):
        ConnectorSpec.from_document(
            spec_document(["sms", {"kind": "sms", "address_kind": "phone"}])
        )


def test_a_connector_declaring_sms_with_a_pager_id_is_refused_at_load(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels = ["email", {"kind": "sms", "address_kind": "pager_id"}]
    connector_distribution(
        "acme",
        source=CONNECTOR_SOURCE.format(cls="Acme", name="acme"),
        files={"spec.json": spec_named("acme", channels=channels)},
    )
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme")

    plugins = build_plugin_host(strict=False)

    (status,) = plugins.statuses
    assert not status.available
    assert (
        "connector 'acme' declares channel 'sms' with address kind 'pager_id', but sms "
        "messages go to a phone address; declare 'sms' with address kind 'phone'"
    ) in status.reason
    assert "acme" not in plugins.connectors and not plugins.pm.has_plugin("acme")


def test_a_custom_address_kind_without_normalize_address_is_refused_at_load(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector_distribution(
        "acme",
        source=NO_NORMALIZER_SOURCE,
        files={"spec.json": spec_named("acme", channels=["sms", PAGER])},
    )
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme")

    with pytest.raises(PluginLoadError) as caught:
        build_plugin_host(strict=True)

    message = str(caught.value)
    assert "connector 'acme' declares channel 'pager' with address kind 'pager_id'" in message
    assert "has no normalize_address classmethod; add normalize_address(cls, kind, raw)" in message


def test_the_example_pager_connector_loads_and_normalises_its_pager_ids(
    connector_distribution: DistributionWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector_distribution(
        "acme",
        source=CONNECTOR_SOURCE.format(cls="Acme", name="acme"),
        files={"spec.json": spec_named("acme", channels=["sms", PAGER])},
    )
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "acme")

    entry = build_plugin_host(strict=True).connectors.get("acme")

    assert entry.spec.address_kind("pager") == "pager_id"
    assert OutboxConnector.normalize_address(AddressKind("pager_id"), " pg-012345") == "PG-012345"
    with pytest.raises(InvalidAddressError, match=r"'\+15005550006' is not a pager id"):
        OutboxConnector.normalize_address(AddressKind("pager_id"), "+15005550006")


def test_a_recipient_carries_contacts_per_kind_but_phones_stay_in_phones() -> None:
    recipient = Recipient.model_validate(
        {
            "id": "r1",
            "contacts": [
                {"kind": "pager_id", "address": "PG-012345", "status": "enabled"},
                {"kind": "pager_id", "address": "PG-000001", "verified_at": "2026-01-02"},
            ],
        }
    )
    assert [c.address for c in recipient.contacts] == ["PG-012345", "PG-000001"]
    assert recipient.contacts[1].status == "default"

    with pytest.raises(ValidationError, match="phone numbers go in the recipient's phones"):
        Recipient.model_validate({"id": "r1", "contacts": [{"kind": "phone", "address": "+1"}]})
    with pytest.raises(ValidationError, match="goes in the recipient's email field"):
        Recipient.model_validate({"id": "r1", "contacts": [{"kind": "email", "address": "a@b"}]})
