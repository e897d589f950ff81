"""A connector's settings declared once as a ``ConnectorSettings`` model: schema, checks, defaults.

The end-to-end tests build a third party's project in ``tmp_path`` (its package
source, a stale shipped spec.json, an installed entry point) and drive the real
``relaykit`` CLI in a subprocess from that project's directory, as its author would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, SecretStr, model_validator

import relaykit
from relaykit import (
    ConfigError,
    ConnectorHost,
    ConnectorSpec,
    InstanceConfig,
    PluginHost,
    RegisterConnector,
    build_plugin_host,
)
from relaykit.connector_settings import parse_settings
from relaykit.contract import ConnectorSettings, SettingValueError, settings_schema
from relaykit.testing import assert_no_secret
from tests.core.conftest import CANARY_SECRET, EXAMPLE_SRC

OUTBOX_SPEC = json.loads((EXAMPLE_SRC / "relaykit_outbox" / "spec.json").read_text("utf-8"))


class Tone(Enum):
    LOW = "low"
    HIGH = "high"


class PagerSettings(ConnectorSettings):
    token: SecretStr = Field(min_length=16, description="the pager API token (secret)")
    tone: Tone = Field(Tone.LOW, description="how loud a page rings")
    team: str | None = Field(None, description="the on-call team paged; omit for everyone")
    retries: int = Field(3, ge=0, le=10, description="how often an unanswered page is repeated")


def test_generated_schema_is_plain_and_passes_the_meta_schema() -> None:
    schema = settings_schema(PagerSettings)

    assert schema["required"] == ["token"] and schema["additionalProperties"] is False
    assert "$defs" not in json.dumps(schema) and "anyOf" not in json.dumps(schema)
    assert schema["properties"]["token"] == {
        "description": "the pager API token (secret)",
        "type": "string",
        "minLength": 16,
        "x-secret": True,
    }
    assert schema["properties"]["tone"]["enum"] == ["low", "high"]
    assert schema["properties"]["tone"]["default"] == "low"
    assert schema["properties"]["team"] == {
        "description": "the on-call team paged; omit for everyone",
        "type": "string",
    }
    assert all("title" not in prop for prop in schema["properties"].values())
    spec = ConnectorSpec.from_document({**OUTBOX_SPEC, "settings_schema": schema})
    assert spec.secret_settings == {"token"}


def test_a_setting_without_a_description_is_refused_when_the_model_is_declared() -> None:
    with pytest.raises(TypeError, match="missing for: timeout"):

        class Undescribed(ConnectorSettings):
            timeout: float = 10.0


def test_parsing_fills_defaults_and_keeps_the_secret_wrapped() -> None:
    parsed = parse_settings(PagerSettings, {"token": CANARY_SECRET, "retries": "5"})

    assert (parsed.retries, parsed.tone, parsed.team) == (5, Tone.LOW, None)
    assert isinstance(parsed.token, SecretStr)
    assert_no_secret(repr(parsed) + str(parsed), [CANARY_SECRET], where="the model's repr")


def test_errors_name_the_field_and_the_fix_and_never_echo_a_secret() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings(
            PagerSettings, {"token": "short-" + CANARY_SECRET[:5], "retries": 11}, location="x"
        )

    message = str(raised.value)
    assert raised.value.location == "x.token"
    assert "x.retries: Input should be less than or equal to 10" in message
    assert "expected: how often an unanswered page is repeated" in message
    assert CANARY_SECRET[:5] not in message


def test_missing_and_unknown_settings_are_named() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings(PagerSettings, {"retires": 2}, location="x")

    message = str(raised.value)
    assert "x.token: is required (the pager API token (secret))" in message
    assert "'retires' is not a setting of this connector; known settings: retries," in message


def test_a_cross_field_check_blames_the_setting_it_names() -> None:
    class Paired(ConnectorSettings):
        user: str | None = Field(None, description="login name")
        password: SecretStr | None = Field(None, description="login password (secret)")

        @model_validator(mode="after")
        def _together(self) -> Paired:
            if (self.user is None) != (self.password is None):
                raise SettingValueError("password", "is required when user is set")
            return self

    with pytest.raises(ConfigError) as raised:
        parse_settings(Paired, {"user": "ops"}, location="x")

    assert raised.value.location == "x.password"
    assert str(raised.value) == "x.password: is required when user is set"


# -- a third party's project, driven through the real CLI ---------------------------------------

CONNECTOR = """
from pydantic import Field, SecretStr

from relaykit.contract import (
    CallbackVerificationError,
    ConnectorSettings,
    PermanentSendError,
    hookimpl,
    load_spec_resource,
)


class PagerSettings(ConnectorSettings):
    token: SecretStr = Field(min_length=16, description="the pager API token (secret)")
    retries: int = Field({retries}, ge=0, le=10, description="how often a page is repeated")


class PagerConnector:
    name = "pager"
    settings_model = PagerSettings

    def __init__(self, config):
        self.config = config
        self.settings = PagerSettings.from_config(config)

    @classmethod
    def spec(cls):
        return load_spec_resource(__package__)

    async def authenticate(self):
        raise NotImplementedError

    async def send(self, message):
        raise PermanentSendError("not sent in this test", connector=self.name)

    async def handle_callback(self, request):
        raise CallbackVerificationError("no callbacks in this test")

    async def aclose(self):
        pass


@hookimpl
def register_connectors(register):
    register(PagerConnector)
"""

#: what the shipped spec.json said before the model's default changed (to 3)
STALE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["token"],
    "properties": {
        "token": {"description": "the pager API token", "type": "string", "x-secret": True},
        "retries": {"description": "how often a page is repeated", "type": "integer", "default": 5},
    },
}
RUNNING_RETRIES = (
    "from relaykit import ConnectorHost\n"
    "print(ConnectorHost.from_config('relaykit.toml').connector('ops/pager').settings.retries)"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A connector project whose model says ``retries = 3`` but whose spec.json says 5."""
    package = tmp_path / "src" / "relaykit_pager"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(CONNECTOR.format(retries=3), "utf-8")
    spec = {
        **OUTBOX_SPEC,
        "id": "pager",
        "title": "Pager",
        "settings_schema": STALE_SCHEMA,
        "channels": ["sms"],
    }
    (package / "spec.json").write_text(json.dumps(spec, indent=2) + "\n", "utf-8")
    info = tmp_path / "site" / "relaykit_pager-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: relaykit-pager\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[relaykit.connectors]\npager = relaykit_pager\n")
    (tmp_path / "relaykit.toml").write_text(
        '[tenants.ops.instances.pager]\nconnector = "pager"\n'
        f'[tenants.ops.instances.pager.settings]\ntoken = "{CANARY_SECRET}"\n',
        "utf-8",
    )
    return tmp_path


def run(project: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(project / "src"), str(project / "site")]),
        "RELAYKIT_LOAD_PLUGINS": "pager",
        "RELAYKIT_STRICT_PLUGINS": "1",
        "COLUMNS": "250",  # rich's tables: one line per row
    }
    env.pop("RELAYKIT_CONFIG", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_describe_shows_the_default_the_running_connector_gets(project: Path) -> None:
    described = run(project, "-m", "relaykit", "connectors", "describe", "pager", "--json")
    running = run(project, "-c", RUNNING_RETRIES)

    assert described.returncode == 0, described.stderr
    assert running.returncode == 0, running.stderr
    shown = json.loads(described.stdout)["settings_schema"]["properties"]["retries"]
    assert shown["default"] == 3 == int(running.stdout)
    assert shown["description"] == "how often a page is repeated"
    table = run(project, "-m", "relaykit", "connectors", "describe", "pager")
    assert table.returncode == 0, table.stderr
    assert "retries" in table.stdout and "│ 3 " in table.stdout, table.stdout
    # no describe_fields classmethod: the data fields come from the spec, through the hook
    assert OUTBOX_SPEC["data_fields"][0]["host_field"] in table.stdout


def test_export_check_catches_a_model_changed_without_export_and_export_fixes_it(
    project: Path,
) -> None:
    shipped = project / "src" / "relaykit_pager" / "spec.json"
    before = shipped.read_text("utf-8")

    stale = run(project, "-m", "relaykit", "specs", "export", "--check")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "out of date: connector_specs/pager.json" in stale.stdout
    assert "out of date: src/relaykit_pager/spec.json" in stale.stdout

    written = run(project, "-m", "relaykit", "specs", "export")
    assert written.returncode == 0, written.stderr
    after = shipped.read_text("utf-8")
    document = json.loads(after)
    assert document["settings_schema"]["properties"]["retries"]["default"] == 3
    assert document["settings_schema"]["properties"]["token"]["minLength"] == 16
    # only the settings_schema value is rewritten: the rest of the file keeps its text
    head = before.index('"settings_schema"')
    assert after[:head] == before[:head]
    assert after.endswith(before[before.index('"data_fields"') - 4 :])
    published = json.loads((project / "connector_specs" / "pager.json").read_text("utf-8"))
    assert published["settings_schema"] == document["settings_schema"]

    clean = run(project, "-m", "relaykit", "specs", "export", "--check")
    assert clean.returncode == 0, clean.stdout


def test_a_bad_setting_the_model_refuses_exits_2_naming_it_without_a_traceback(
    project: Path,
) -> None:
    config = project / "relaykit.toml"
    config.write_text(config.read_text("utf-8") + "retries = 11\n", "utf-8")

    result = run(project, "-m", "relaykit", "config", "validate")

    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "tenants.ops.instances.pager.settings.retries" in output
    assert "Traceback" not in output
    assert_no_secret(output, [CANARY_SECRET], where="the CLI's error")


def test_export_outside_the_connectors_project_leaves_its_spec_json_alone(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shipped = project / "src" / "relaykit_pager" / "spec.json"
    before = shipped.read_text("utf-8")

    result = run(
        project, "-m", "relaykit", "specs", "export", "--dir", str(elsewhere), cwd=elsewhere
    )

    assert result.returncode == 0, result.stderr
    assert shipped.read_text("utf-8") == before
    published = json.loads((elsewhere / "pager.json").read_text("utf-8"))
    assert published["settings_schema"]["properties"]["retries"]["default"] == 3


# -- docs/connector-settings.md's snippets run as written ---------------------------------------

GUIDE = (Path(__file__).parents[2] / "docs" / "connector-settings.md").read_text("utf-8")


def test_the_guides_model_and_connector_work_as_the_guide_says() -> None:
    namespace: dict[str, object] = {}
    for block in re.findall(r"```python\n(.*?)```", GUIDE, flags=re.DOTALL):
        exec(compile(block, "docs/connector-settings.md", "exec", dont_inherit=True), namespace)
    model: type[ConnectorSettings] = namespace["PagerSettings"]  # type: ignore[assignment]
    connector_class: Any = namespace["PagerConnector"]

    config = InstanceConfig("ops", "pager", "pager", {"api_token": CANARY_SECRET})
    settings = connector_class(config).settings
    assert (settings.base_url, settings.timeout_seconds) == ("https://api.pager.example", 10.0)
    schema = settings_schema(model)
    assert schema["properties"]["api_token"]["x-secret"] is True
    assert schema["properties"]["timeout_seconds"]["default"] == 10.0
    ConnectorSpec.from_document({**OUTBOX_SPEC, "settings_schema": schema})
    with pytest.raises(ConfigError) as raised:
        parse_settings(model, {"api_token": CANARY_SECRET, "escalation_team": "ops"})
    assert raised.value.location == "settings.escalate_after_minutes"


# -- the first-party connectors: what describe shows is what the connector gets -----------------

MINIMAL = {
    "twilio": {"account_sid": "AC" + "0123456789abcdef" * 2, "auth_token": CANARY_SECRET},
    "email": {"host": "smtp.example.org", "from_address": "notifications@example.org"},
}


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_every_default_describe_shows_is_what_the_first_party_connector_gets(
    name: str, tmp_path: Path
) -> None:
    described = subprocess.run(
        [sys.executable, "-m", "relaykit", "connectors", "describe", name, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "RELAYKIT_LOAD_PLUGINS"},
    )
    assert described.returncode == 0, described.stderr
    properties = json.loads(described.stdout)["settings_schema"]["properties"]
    defaults = {key: prop["default"] for key, prop in properties.items() if "default" in prop}
    config_file = tmp_path / "relaykit.toml"
    config_file.write_text(
        f'[tenants.t.instances.i]\nconnector = "{name}"\n[tenants.t.instances.i.settings]\n'
        + "".join(f'{key} = "{value}"\n' for key, value in MINIMAL[name].items()),
        "utf-8",
    )

    host = ConnectorHost.from_config(config_file, plugins=build_plugin_host(strict=True))
    config = host.configs["t/i"]
    connector: Any = host.connector("t/i")

    assert len(defaults) >= 3, defaults
    for key, default in defaults.items():
        assert config.settings[key] == default, key
        assert getattr(connector.settings, key) == default, key


def test_a_settings_model_that_is_not_connector_settings_makes_the_plugin_unavailable(
    plugin_host: PluginHost,
) -> None:
    from relaykit_outbox.connector import OutboxConnector

    class Misdeclared(OutboxConnector):
        settings_model = dict

    class Plugin:
        @relaykit.hookimpl
        def register_connectors(self, register: RegisterConnector) -> None:
            register(Misdeclared)

    plugin_host.strict = False
    status = plugin_host.register_plugin(Plugin(), "misdeclared")

    assert not status.available
    assert "settings_model of Misdeclared must be a subclass of" in status.reason
    assert "relaykit.contract.ConnectorSettings" in status.reason
