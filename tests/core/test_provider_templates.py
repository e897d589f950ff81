"""An event names an approved provider template per channel (WhatsApp: a Twilio Content SID)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaykit.cli import app
from relaykit.results import Channel, ProviderTemplate
from relaykit.templates import MissingVariableError, TemplateCatalog
from tests.core.events_config import catalog_of, config_error, tenant
from tests.whatsapp_events import ABSENCE_DATA, ABSENCE_SID, PROVIDER_TEMPLATE_TOML

pytestmark = pytest.mark.usefixtures("only_outbox")

WriteConfig = Callable[[str], Path]
WHERE = "events.attendance_absence.provider_templates.whatsapp"


def test_a_shipped_event_gains_an_approved_whatsapp_template_and_keeps_the_rest(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    catalog = catalog_of(write_config(PROVIDER_TEMPLATE_TOML + tenant(tmp_path)))

    template = catalog.provider_template(None, "attendance_absence", Channel.WHATSAPP, ABSENCE_DATA)

    assert template == ProviderTemplate(ABSENCE_SID, {"1": "Jamie Rivera", "2": "Monday 12 May"})
    shipped = TemplateCatalog()
    assert catalog.event("attendance_absence") == shipped.event("attendance_absence")
    assert catalog.render(None, "attendance_absence", "whatsapp", ABSENCE_DATA) == (
        shipped.render(None, "attendance_absence", "whatsapp", ABSENCE_DATA)
    )
    assert catalog.provider_template(None, "otp", Channel.WHATSAPP, {}) is None


def test_a_required_variable_missing_from_the_data_is_named(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    catalog = catalog_of(write_config(PROVIDER_TEMPLATE_TOML + tenant(tmp_path)))
    data = {k: v for k, v in ABSENCE_DATA.items() if k != "absence_date"}

    with pytest.raises(MissingVariableError, match="absence_date"):
        catalog.provider_template(None, "attendance_absence", Channel.WHATSAPP, data)


def test_an_optional_variable_left_out_is_left_to_the_templates_default(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    toml = PROVIDER_TEMPLATE_TOML.replace('"2" = "absence_date"', '"2" = "period"')
    catalog = catalog_of(write_config(toml + tenant(tmp_path)))

    template = catalog.provider_template(None, "attendance_absence", Channel.WHATSAPP, ABSENCE_DATA)

    assert template == ProviderTemplate(ABSENCE_SID, {"1": "Jamie Rivera"})


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ((ABSENCE_SID, "HX123"), "content_sid", "HX and 32 lower-case hex digits"),
        ((ABSENCE_SID, "HX" + ABSENCE_SID[2:].upper()), "content_sid", "Content SID"),
        (('content_sid = "', 'content_sid = 7 #"'), "content_sid", "Content SID"),
        (('"2" = "absence_date"', '"2" = "date"'), "variables.2", "'date'"),
        (('"1" =', '"a b" ='), "variables.a b", "letters/digits"),
        (("variables = {", "colour = 1\nvariables = {"), "colour", "unknown key"),
    ],
)
def test_a_malformed_provider_template_names_the_field_and_the_fix(
    tmp_path: Path,
    write_config: WriteConfig,
    change: tuple[str, str],
    field: str,
    says: str,
) -> None:
    toml = PROVIDER_TEMPLATE_TOML.replace(*change, 1)

    message = config_error(write_config(toml + tenant(tmp_path)))

    assert f"{WHERE}.{field}" in message and says in message


def test_only_whatsapp_has_provider_templates(tmp_path: Path, write_config: WriteConfig) -> None:
    toml = PROVIDER_TEMPLATE_TOML.replace("provider_templates.whatsapp", "provider_templates.sms")

    message = config_error(write_config(toml + tenant(tmp_path)))

    assert "events.attendance_absence.provider_templates.sms: only whatsapp" in message


def test_an_event_without_its_own_whatsapp_template_cannot_name_an_approved_one(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    ping = (
        '[events.ping]\ntitle = "Ping"\nvariables = {}\ntemplates = { sms = "ping" }\n'
        f'[events.ping.provider_templates.whatsapp]\ncontent_sid = "{ABSENCE_SID}"\n'
    )

    message = config_error(write_config(ping + tenant(tmp_path)))

    assert "events.ping.provider_templates.whatsapp" in message
    assert "templates.whatsapp too" in message


def test_a_tenants_own_provider_template_is_that_tenants_only(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    own = PROVIDER_TEMPLATE_TOML.replace("[events.", "[tenants.north-high.events.")
    config = write_config(tenant(tmp_path) + tenant(tmp_path, "south") + own)

    catalog = catalog_of(config)

    mine = catalog.provider_template(
        "north-high", "attendance_absence", Channel.WHATSAPP, ABSENCE_DATA
    )
    theirs = catalog.provider_template(
        "south", "attendance_absence", Channel.WHATSAPP, ABSENCE_DATA
    )
    assert mine is not None and mine.id == ABSENCE_SID
    assert theirs is None


def test_a_tenants_error_names_its_path(tmp_path: Path, write_config: WriteConfig) -> None:
    own = PROVIDER_TEMPLATE_TOML.replace("[events.", "[tenants.north-high.events.")
    config = write_config(tenant(tmp_path) + own.replace(ABSENCE_SID, "HXnope"))

    assert f"tenants.north-high.{WHERE}.content_sid" in config_error(config)


def test_redeclaring_the_events_variables_drops_a_provider_template_it_does_not_repeat(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    anew = (
        '[events.attendance_absence]\nvariables = { student_name = { description = "who" } }\n'
        'templates = { whatsapp = "{{student_name}} was absent" }\n'
    )
    shared = PROVIDER_TEMPLATE_TOML
    own = anew.replace("[events.", "[tenants.north-high.events.")
    catalog = catalog_of(write_config(shared + tenant(tmp_path) + own))

    data = {"student_name": "Jamie"}
    assert (
        catalog.provider_template("north-high", "attendance_absence", Channel.WHATSAPP, data)
        is None
    )
    assert catalog.provider_template(None, "attendance_absence", Channel.WHATSAPP, ABSENCE_DATA)


def test_the_cli_refuses_a_bad_content_sid_with_exit_2_and_no_traceback(
    cli: CliRunner, tmp_path: Path, write_config: WriteConfig
) -> None:
    config = write_config(PROVIDER_TEMPLATE_TOML.replace(ABSENCE_SID, "HX1") + tenant(tmp_path))

    result = cli.invoke(app, ["--config", str(config), "templates", "list"])

    assert result.exit_code == 2, result.output
    assert f"{WHERE}.content_sid" in result.output
    assert "Traceback" not in result.output


DOCS = (Path(__file__).parents[2] / "docs" / "whatsapp.md").read_text("utf-8")


def test_the_docs_declaration_loads_and_its_error_example_is_what_relaykit_says(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    declaration = DOCS.split("```toml\n", 1)[1].split("```", 1)[0]
    catalog = catalog_of(write_config(declaration + tenant(tmp_path)))
    example = DOCS.split("```\nevents.attendance_absence", 1)[1].split("```", 1)[0]
    bad = declaration.replace('"2" = "absence_date"', '"2" = "date"')

    template = catalog.provider_template(None, "attendance_absence", Channel.WHATSAPP, ABSENCE_DATA)
    message = config_error(write_config(bad + tenant(tmp_path)))

    assert template == ProviderTemplate(ABSENCE_SID, {"1": "Jamie Rivera", "2": "Monday 12 May"})
    expected = " ".join(("events.attendance_absence" + example).split())
    assert expected in " ".join(message.split())
