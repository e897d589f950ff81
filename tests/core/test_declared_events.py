"""Events declared by integrators in relaykit.toml: layering, validation, ``templates list``."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from relaykit.cli import app
from relaykit.templates import TemplateCatalog, TemplateError
from tests.core.events_config import catalog_of, config_error, tenant
from tests.declared_events import DOORCODE_DATA, DOORCODE_SMS, DOORCODE_TOML

pytestmark = pytest.mark.usefixtures("only_outbox")

WriteConfig = Callable[[str], Path]
#: An event relaykit does not ship (doorcode_changed replaces a shipped one).
GATE_TOML = DOORCODE_TOML.replace("doorcode_changed", "gate_code_changed")


@pytest.fixture
def doorcode_config(tmp_path: Path, write_config: WriteConfig) -> Path:
    return write_config(f'data_dir = "{tmp_path / "data"}"\n{DOORCODE_TOML}\n{tenant(tmp_path)}')


def test_templates_list_shows_a_declared_event_with_its_variables(
    cli: CliRunner, doorcode_config: Path
) -> None:
    result = cli.invoke(app, ["--config", str(doorcode_config), "templates", "list", "--json"])

    assert result.exit_code == 0, result.output
    events = {e["event"]: e for e in json.loads(result.stdout)}
    assert events["doorcode_changed"]["title"] == "Door code changed"
    assert [(v["name"], v["required"]) for v in events["doorcode_changed"]["variables"]] == [
        ("site_name", True),
        ("door_code", True),
        ("valid_from", False),
    ]
    assert "otp" in events  # the shipped events stay


def test_templates_list_table_names_the_declared_event(
    cli: CliRunner, doorcode_config: Path
) -> None:
    result = cli.invoke(app, ["--config", str(doorcode_config), "templates", "list"])

    assert result.exit_code == 0, result.output
    assert "doorcode_changed" in result.output and "door_code*" in result.output


def test_a_declared_event_renders_its_templates(doorcode_config: Path) -> None:
    catalog = catalog_of(doorcode_config)

    assert catalog.render("north-high", "doorcode_changed", "sms", DOORCODE_DATA) == DOORCODE_SMS
    html = catalog.render("north-high", "doorcode_changed", "email_html", DOORCODE_DATA)
    assert html == "<p>The door code of Harbour View is now <b>4821</b>.</p>"


def test_a_channel_the_event_has_no_template_for_is_refused_naming_the_fix(
    doorcode_config: Path,
) -> None:
    catalog = catalog_of(doorcode_config)

    with pytest.raises(TemplateError, match=r"no whatsapp template: declare whatsapp under"):
        catalog.render("north-high", "doorcode_changed", "whatsapp", DOORCODE_DATA)


def test_a_template_using_an_undeclared_variable_is_a_config_error_naming_the_field(
    cli: CliRunner, doorcode_config: Path
) -> None:
    text = doorcode_config.read_text().replace("{{door_code}}.", "{{code}}.", 1)
    doorcode_config.write_text(text)

    result = cli.invoke(app, ["--config", str(doorcode_config), "config", "validate"])

    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "events.doorcode_changed.templates.sms:" in output
    assert "declare it under [events.doorcode_changed.variables.code]" in output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            ('example = "4821"', 'example = "4821"\nrequired = "yes"'),
            "variables.door_code.required",
        ),
        (('example = "4821"', "example = 4821"), "variables.door_code.example"),
        (('sms = "', 'push = "'), "templates.push: unknown key"),
        (('title = "Door code changed"', "titel = 'x'"), "titel: unknown key"),
        (
            ('email_subject = "New door code for {{site_name}}"', ""),
            "templates: email needs email_subject",
        ),
        (
            ("[events.doorcode_changed.variables.site_name]", "[events.doorcode_changed.vars.x]"),
            "vars",
        ),
    ],
    ids=[
        "required-not-bool",
        "example-not-text",
        "unknown-part",
        "unknown-key",
        "half-email",
        "typo",
    ],
)
def test_a_malformed_declaration_names_the_field(
    doorcode_config: Path, change: tuple[str, str], field: str
) -> None:
    doorcode_config.write_text(doorcode_config.read_text().replace(*change, 1))

    assert f"events.doorcode_changed.{field}" in config_error(doorcode_config)


def test_a_new_event_needs_a_title_and_a_channels_templates(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    untitled = config_error(write_config("[events.ping]\nvariables = {}\n" + tenant(tmp_path)))
    ping = '[events.ping]\ntitle = "Ping"\nvariables = {}\n'
    untemplated = config_error(write_config(ping + tenant(tmp_path)))

    assert "events.ping.title: must be non-empty text" in untitled
    assert "events.ping.templates: give the templates of at least one channel" in untemplated


def test_declaring_a_shipped_event_overrides_only_what_it_gives(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    path = write_config(
        '[events.otp.templates]\nsms = "Code {{code}} ({{service_name}})"\n' + tenant(tmp_path)
    )
    catalog = catalog_of(path)
    data = {"code": "804251", "expires_minutes": 10, "service_name": "Harbour"}

    assert catalog.render(None, "otp", "sms", data) == "Code 804251 (Harbour)"
    assert catalog.render(None, "otp", "email_subject", data) == (
        TemplateCatalog().render(None, "otp", "email_subject", data)
    )
    assert catalog.event("otp").title == TemplateCatalog().event("otp").title


def test_declaring_variables_defines_a_shipped_event_anew(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    route = '[tenants.north-high.routes.otp]\nsteps = [{channel = "sms", instance = "sms"}]\n'
    path = write_config(
        '[events.otp.variables.code]\ndescription = "The code."\n'
        '[events.otp.templates]\nsms = "Code {{code}}"\n' + tenant(tmp_path, route=route)
    )
    catalog = catalog_of(path)

    assert [v.name for v in catalog.event("otp").variables] == ["code"]
    assert catalog.render(None, "otp", "sms", {"code": "1"}) == "Code 1"
    with pytest.raises(TemplateError, match="no email template"):
        catalog.render(None, "otp", "email_text", {"code": "1"})


def test_a_shipped_event_redefined_without_a_routed_channel_is_refused(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    route = (
        "[tenants.north-high.routes.default]\n"
        'steps = [{channel = "sms", instance = "sms"}, {channel = "email", instance = "mail"}]\n'
    )
    path = write_config(
        '[events.otp.variables.code]\ndescription = "The code."\n'
        '[events.otp.templates]\nsms = "Code {{code}}"\n' + tenant(tmp_path, route=route)
    )

    assert "tenants.north-high.routes.default sends 'otp' by email" in config_error(path)


def test_a_tenants_own_event_is_that_tenants_only(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    own = GATE_TOML.replace("[events.", "[tenants.north-high.events.")
    path = write_config(tenant(tmp_path) + own + tenant(tmp_path, "south-high"))
    catalog = catalog_of(path)

    assert "gate_code_changed" in {e.name for e in catalog.events("north-high")}
    assert "gate_code_changed" not in {e.name for e in catalog.events("south-high")}
    assert "gate_code_changed" not in {e.name for e in catalog.events()}


def test_templates_list_shows_a_tenants_own_event_for_that_tenant_only(
    cli: CliRunner, tmp_path: Path, write_config: WriteConfig
) -> None:
    own = GATE_TOML.replace("[events.", "[tenants.north-high.events.")
    path = write_config(
        f'data_dir = "{tmp_path / "data"}"\n'
        + tenant(tmp_path)
        + own
        + tenant(tmp_path, "south-high")
    )

    def listed(name: str) -> dict[str, Any]:
        args = ["--config", str(path), "templates", "list", "--tenant", name, "--json"]
        result = cli.invoke(app, args)
        assert result.exit_code == 0, result.output
        return {e["event"]: e for e in json.loads(result.stdout)}

    gate = listed("north-high")["gate_code_changed"]
    assert [(v["name"], v["required"], v["example"]) for v in gate["variables"]] == [
        ("site_name", True, "Harbour View"),
        ("door_code", True, "4821"),
        ("valid_from", False, "Monday 09:00"),
    ]
    assert "gate_code_changed" not in listed("south-high")


def test_a_tenants_own_error_names_its_path(tmp_path: Path, write_config: WriteConfig) -> None:
    own = DOORCODE_TOML.replace("[events.", "[tenants.north-high.events.").replace(
        "{{door_code}}.", "{{code}}.", 1
    )
    path = write_config(tenant(tmp_path) + own)

    assert "tenants.north-high.events.doorcode_changed.templates.sms" in config_error(path)


def test_a_route_sending_a_declared_event_where_it_has_no_template_is_refused(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    route = (
        "[tenants.north-high.routes.default]\n"
        'steps = [{channel = "whatsapp", instance = "sms"},'
        ' {channel = "email", instance = "mail"}]\n'
    )
    path = write_config(GATE_TOML + tenant(tmp_path, route=route))

    message = config_error(path)

    assert "tenants.north-high.routes.default sends 'gate_code_changed' by whatsapp" in message
    assert "[tenants.north-high.routes.gate_code_changed]" in message


def test_a_route_of_its_own_lets_a_declared_event_skip_a_channel(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    route = (
        "[tenants.north-high.routes.default]\n"
        'steps = [{channel = "whatsapp", instance = "sms"}]\n'
        "[tenants.north-high.routes.gate_code_changed]\n"
        'steps = [{channel = "sms", instance = "sms"}]\n'
    )
    path = write_config(GATE_TOML + tenant(tmp_path, route=route))

    assert "gate_code_changed" in {e.name for e in catalog_of(path).events("north-high")}


def test_events_files_are_read_relative_to_the_config(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "doors.toml").write_text(GATE_TOML.replace("[events.", "["))
    path = write_config('event_files = ["events/doors.toml"]\n' + tenant(tmp_path))

    catalog = catalog_of(path)

    assert catalog.render(None, "gate_code_changed", "sms", DOORCODE_DATA) == DOORCODE_SMS


def test_an_events_file_error_names_the_file_and_the_field(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    doors = tmp_path / "doors.toml"
    doors.write_text(DOORCODE_TOML.replace("[events.", "[").replace("{{door_code}}.", "{{c}}.", 1))
    path = write_config('event_files = ["doors.toml"]\n' + tenant(tmp_path))

    message = config_error(path)

    assert f"{doors}: doorcode_changed.templates.sms" in message
    assert "[doorcode_changed.variables.c]" in message


def test_a_missing_events_file_is_a_config_error(tmp_path: Path, write_config: WriteConfig) -> None:
    path = write_config('event_files = ["nowhere.toml"]\n' + tenant(tmp_path))

    message = config_error(path)

    assert "event_files" in message and "'nowhere.toml' does not exist" in message


DOCS = (Path(__file__).parents[2] / "docs" / "events.md").read_text("utf-8")


def toml_blocks() -> list[str]:
    return [block.split("```", 1)[0] for block in DOCS.split("```toml\n")[1:]]


def test_the_docs_declaration_and_route_load_and_render(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    declaration, route, *_ = toml_blocks()
    path = write_config(declaration + tenant(tmp_path) + route)
    data = {"site_name": "Harbour View", "door_code": "4821"}

    rendered = catalog_of(path).render("north-high", "gate_code_changed", "sms", data)

    assert rendered == "Harbour View: the code is now 4821."


def test_the_docs_otp_change_keeps_the_rest_of_otp(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    otp = next(block for block in toml_blocks() if "[events.otp.templates]" in block)
    path = write_config(textwrap.dedent(otp) + tenant(tmp_path))
    data = {"code": "804251", "expires_minutes": 10, "service_name": "Harbour"}

    catalog = catalog_of(path)

    assert catalog.render(None, "otp", "sms", data) == "804251 is your Harbour code"
    assert catalog.event("otp") == TemplateCatalog().event("otp")


EXAMPLE = Path(__file__).parents[2] / "relaykit.example.toml"


def commented_event_tables() -> list[str]:
    """The example config's commented-out event tables, uncommented.

    Each is a run of ``# `` lines whose first is an ``[...events...]`` table header.
    """
    blocks: list[str] = []
    current: list[str] | None = None
    for line in EXAMPLE.read_text("utf-8").splitlines():
        if current is None:
            if line.startswith("# [") and "events." in line:
                current = [line[2:]]
        elif line.startswith("# "):
            current.append(line[2:])
        else:
            blocks.append("\n".join(current))
            current = None
    return blocks


def test_the_example_configs_commented_events_load_and_render_once_uncommented(
    tmp_path: Path,
) -> None:
    shared, own = commented_event_tables()
    config = tmp_path / "relaykit.toml"
    config.write_text(f"{EXAMPLE.read_text('utf-8')}\n{shared}\n{own}\n", "utf-8")
    absence = {"student_name": "Jamie", "school_name": "North High", "absence_date": "Monday"}

    catalog = catalog_of(config)

    trip = catalog.event("trip_reminder", "north-high")
    assert [(v.name, v.required) for v in trip.variables] == [
        ("student_name", True),
        ("trip_name", True),
        ("meet_at", False),
    ]
    data = {"student_name": "Jamie", "trip_name": "the Science Museum", "meet_at": "8:15"}
    assert catalog.render("north-high", "trip_reminder", "sms", data) == (
        "Reminder: Jamie's trip to the Science Museum is tomorrow. Meet 8:15."
    )
    assert catalog.render("north-high", "attendance_absence", "sms", absence) == (
        "North High: Jamie is absent today (Monday). Please call the office."
    )
    shipped = TemplateCatalog()
    assert catalog.event("attendance_absence", "north-high") == shipped.event("attendance_absence")
    assert catalog.render(None, "attendance_absence", "sms", absence) == shipped.render(
        None, "attendance_absence", "sms", absence
    )


def test_changed_events_names_a_change_of_the_configs_event_once_and_a_tenants_own_by_tenant(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    own = GATE_TOML.replace("[events.", "[tenants.north-high.events.")
    before = catalog_of(write_config(GATE_TOML + tenant(tmp_path) + own))
    shared_edit = GATE_TOML.replace("the door code is now", "the new door code is")
    own_edit = own.replace("the door code is now", "your door code is")

    assert before.changed_events(before) == []
    after = catalog_of(write_config(shared_edit + tenant(tmp_path) + own))
    assert before.changed_events(after) == ["gate_code_changed"]
    edited = catalog_of(write_config(GATE_TOML + tenant(tmp_path) + own_edit))
    assert before.changed_events(edited) == ["north-high/gate_code_changed"]
    dropped = catalog_of(write_config(GATE_TOML + tenant(tmp_path)))
    assert edited.changed_events(dropped) == ["north-high/gate_code_changed"]
    assert before.changed_events(dropped) == []  # its own was the config's, word for word
