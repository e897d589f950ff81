"""Channels are declared, not enumerated: open channel kinds, address kinds, load-time refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError
from typer.testing import CliRunner

from relaykit import ConnectorSpec, PluginLoadError, SpecValidationError, build_plugin_host
from relaykit.cli import app
from relaykit.contract import AddressKind, Channel, DeclaredChannel, InvalidAddressError
from relaykit.errors import ConfigError
from relaykit.recipients import Recipient, choose_contact
from relaykit.settings import load_settings
from relaykit.templates import TemplateCatalog
from relaykit.testing import ConnectorConformance, DistributionWriter
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


def test_a_custom_channel_may_not_take_the_email_parts_prefix() -> None:
    with pytest.raises(SpecValidationError, match="channel 'email_fax': a channel kind may not"):
        ConnectorSpec.from_document(
            spec_document([{"kind": "email_fax", "address_kind": "fax_number"}])
        )


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


PAGER_EVENT = """
[events.gate_opened]
title = "Gate opened"
variables = {}
[events.gate_opened.templates]
pager = "The gate is open"
sms = "The gate is open."
"""


def pager_tenant(
    tmp_path: Path, extra: str = "", route: str = "pager", event: str = PAGER_EVENT
) -> str:
    """A config declaring ``event`` and a tenant paging through the outbox connector, routing
    gate_opened by ``route`` then sms."""
    (tmp_path / "out").mkdir(exist_ok=True)
    instance = (
        '{name}]\nconnector = "outbox"\n[tenants.acme.instances.{name}.settings]\n'
        f'directory = "{tmp_path / "out"}"\nsigning_secret = "s3cret-s3cret-s3cret"\n'
    )
    return (
        f'data_dir = "{tmp_path / "data"}"\n'
        + event
        + "[tenants.acme.instances."
        + instance.format(name="pager")
        + "[tenants.acme.instances."
        + instance.format(name="sms")
        + "[tenants.acme.routes.gate_opened]\n"
        + f'steps = [{{channel = "{route}", instance = "pager"}}, '
        + '{channel = "sms", instance = "sms"}]\n'
        + extra
    )


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return " ".join(str(caught.value).split())


def test_a_pager_has_its_own_rules_and_never_inherits_the_sms_ones(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    extra = (
        "[tenants.acme.sms]\nmax_length = 320\nmonthly_limit = 500\n"
        "[tenants.acme.channels.pager]\nmax_length = 80\n"
        "[tenants.acme.channels.whatsapp]\nmax_length = 700\n"
    )
    tenant = load_settings(write_config(pager_tenant(tmp_path, extra))).tenant("acme")

    pager = tenant.channel_policy(Channel("pager"))
    assert (pager.max_length, pager.monthly_limit, pager.quiet_hours) == (80, None, False)
    sms = tenant.channel_policy(Channel.SMS)
    assert (sms.max_length, sms.monthly_limit, sms.quiet_hours) == (320, 500, True)
    assert tenant.channel_policy(Channel.WHATSAPP).max_length == 700
    assert tenant.channel_policy(Channel.EMAIL).max_length is None


def test_an_sms_rule_set_in_both_places_is_a_config_error(
    cli: CliRunner, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    extra = "[tenants.acme.sms]\nmax_length = 320\n[tenants.acme.channels.sms]\nmax_length = 300\n"
    config = write_config(pager_tenant(tmp_path, extra))

    result = cli.invoke(app, ["--config", str(config), "config", "validate"])

    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "sms.max_length and channels.sms.max_length are both set: keep one of them" in output
    assert "Traceback" not in result.output


def test_a_route_with_an_invalid_channel_kind_names_the_field(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    message = load_error(write_config(pager_tenant(tmp_path, route="Pager")))

    assert "routes.gate_opened.steps.0.channel" in message
    assert "'Pager' is not a valid channel kind: use a lower-case identifier" in message


def test_a_declared_event_gives_the_pager_body_only_for_a_channel_a_route_uses(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    routed = load_settings(write_config(pager_tenant(tmp_path)))
    catalog = TemplateCatalog(declared=routed.declared_events())
    message = catalog.render_message("acme", "gate_opened", Channel("pager"), {})
    assert message.body == "The gate is open"

    unrouted = pager_tenant(tmp_path).replace('channel = "pager"', 'channel = "sms"')
    error = load_error(write_config(unrouted))
    assert "events.gate_opened.templates.pager: unknown key" in error
    assert "or the kind of a channel a route uses" in error


def test_routing_a_declared_event_by_a_channel_it_has_no_template_for_is_refused(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = pager_tenant(tmp_path, event=PAGER_EVENT.replace('pager = "The gate is open"\n', ""))

    error = load_error(write_config(config))

    assert "sends 'gate_opened' by pager, but the event has no pager template" in error


def test_the_best_contact_is_enabled_then_latest_verified_never_disabled_or_opted_out() -> None:
    kind = AddressKind("pager_id")
    recipient = Recipient.model_validate(
        {
            "id": "r1",
            "contacts": [
                {"kind": "pager_id", "address": "pg-000001", "status": "disabled"},
                {"kind": "pager_id", "address": "PG-000002", "verified_at": "2026-09-01"},
                {"kind": "pager_id", "address": "PG-000003", "status": "enabled"},
                {
                    "kind": "pager_id",
                    "address": "PG-000004",
                    "status": "enabled",
                    "verified_at": "2026-01-01",
                },
                {"kind": "pager_id", "address": "junk", "status": "enabled"},
                {"kind": "badge", "address": "B-1", "status": "enabled"},
            ],
        }
    )

    def normalize(raw: str) -> str:
        return OutboxConnector.normalize_address(kind, raw)

    assert choose_contact(recipient, kind, normalize, set()).address == "PG-000004"
    assert choose_contact(recipient, kind, normalize, {"PG-000004"}).address == "PG-000003"
    only_default = choose_contact(recipient, kind, normalize, {"PG-000004", "PG-000003"})
    assert only_default.address == "PG-000002"
    none = choose_contact(recipient, kind, normalize, {"PG-000002", "PG-000003", "PG-000004"})
    assert none.address is None and none.opted_out
    assert (
        "PG-000001 is disabled" in none.reason and "'junk' is not a valid pager_id" in none.reason
    )
    assert (
        choose_contact(recipient, AddressKind("fax"), normalize, set()).reason == "no fax contact"
    )


def test_a_default_route_by_pager_needs_a_pager_template_for_every_event_it_sends(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = pager_tenant(tmp_path).replace("routes.gate_opened]", "routes.default]")

    error = load_error(write_config(config))

    assert "tenants.acme.routes.default sends 'attendance_absence' by pager" in error
    assert "add it under [events.attendance_absence.templates]" in error


class _LenientPager(OutboxConnector):
    """Accepts any pager id, even an empty one."""

    @classmethod
    def normalize_address(cls, kind: AddressKind, raw: str) -> str:
        return raw.strip().upper()


class _LenientPagerConformance(ConnectorConformance):
    connector_class = _LenientPager
    plugin_module = "relaykit_outbox.plugin"


def test_the_conformance_kit_catches_a_normalizer_that_accepts_an_empty_address() -> None:
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        _LenientPagerConformance().test_declared_channels_have_address_kinds_the_connector_handles()


def test_the_conformance_kit_asks_for_an_example_of_a_custom_address_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = ConnectorSpec.from_document(spec_document([{"kind": "pager", "address_kind": "pg"}]))
    monkeypatch.setattr(OutboxConnector, "spec", classmethod(lambda cls: spec))

    with pytest.raises(AssertionError, match="give an example pg in the spec's channel"):
        _LenientPagerConformance().test_declared_channels_have_address_kinds_the_connector_handles()
