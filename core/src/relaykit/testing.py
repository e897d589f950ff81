"""Test helpers for connector authors; a pytest plugin (``pytest11`` entry point ``relaykit``).

Install ``relaykit[testing]`` for what it needs (pytest, pytest-asyncio); its
async checks are marked, so pytest-asyncio's strict mode runs them too.

* :class:`ConnectorConformance` - subclass it in your plugin's test suite and
  every connector passes the same checks the first-party ones do, plus one
  check derived from each required setting, secret setting, callback kind
  and undeclared channel of its spec.
* :func:`assert_no_secret` - fail if a text holds a secret in any encoding.
* the ``connector_distribution`` fixture - writes a tiny installed
  distribution with a ``relaykit.connectors`` entry point into ``tmp_path``,
  to prove discovery works like a real ``pip install``.
* the ``plugin_host`` fixture - a fresh plugin host with no entry points loaded.
"""

from __future__ import annotations

import importlib
import inspect
import io
import logging
import sys
import textwrap
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, cast

import pytest
import structlog
from pydantic import SecretStr

from relaykit.addresses import InvalidAddressError, SupportsAddresses
from relaykit.connector_settings import settings_model_of
from relaykit.connectors import Connector, InstanceConfig, address_kind_problem
from relaykit.errors import CallbackVerificationError, ConfigError, PermanentSendError
from relaykit.instances import validate_instance_settings
from relaykit.logs import configure_logging
from relaykit.plugins import CONNECTOR_GROUP, PluginHost
from relaykit.redaction import encoded_forms
from relaykit.results import CallbackRequest, Channel, ConnectionStatus, Direction, OutboundMessage
from relaykit.settings_schema import settings_schema
from relaykit.spec import ConnectorSpec

__all__ = [
    "ConnectorConformance",
    "DistributionWriter",
    "assert_no_secret",
    "captured_logs",
    "connector_distribution",
    "plain_settings",
    "plugin_host",
    "secret_values",
    "spec_derived_parameters",
]


def secret_values(config: InstanceConfig, spec: ConnectorSpec) -> list[str]:
    """The plain values of ``config``'s secret settings."""
    values = []
    for name in spec.secret_settings:
        value = config.settings.get(name)
        if value is None:
            continue
        values.append(
            value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        )
    return values


def plain_settings(config: InstanceConfig) -> dict[str, Any]:
    """``config``'s settings as they were written: secrets unwrapped from ``SecretStr``."""
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in config.settings.items()
    }


#: an address of each shipped channel kind, valid for its kind, for messages the kit sends
SAMPLE_ADDRESSES: Mapping[Channel, str] = {
    Channel.SMS: "+14155552671",
    Channel.WHATSAPP: "+14155552671",
    Channel.EMAIL: "conformance@example.com",
}


#: the parameters of the spec-derived checks, each one test per declared (or undeclared) item
SPEC_DERIVED_PARAMETERS = (
    "required_setting",
    "secret_setting",
    "callback_kind",
    "undeclared_channel",
)


def spec_derived_parameters(spec: ConnectorSpec) -> dict[str, list[Any]]:
    """What a spec declares, as the parameters of :class:`ConnectorConformance`'s derived checks.

    One test per required setting, per secret setting, per callback kind and per
    channel the spec does *not* declare.
    """
    return {
        "required_setting": list(spec.settings_schema.get("required", [])),
        "secret_setting": sorted(spec.secret_settings),
        "callback_kind": list(spec.callback_kinds),
        "undeclared_channel": [c for c in Channel if c not in spec.channels],
    }


def assert_no_secret(text: str, secrets: Iterable[str], *, where: str = "output") -> None:
    """Fail if ``text`` holds a secret: raw, URL-encoded, hex or base64 (at any alignment)."""
    for secret in secrets:
        for form in encoded_forms(secret):
            if form in text:
                kind = "raw" if form == secret else "an encoded form of it"
                pytest.fail(f"a secret leaked into {where} ({kind}: {form[:4]}…)")


class ConnectorConformance:
    """The checks every connector must pass. Subclass it in your test suite::

    class TestAcmeConformance(ConnectorConformance):
        connector_class = AcmeConnector
        plugin_module = "relaykit_acme.plugin"   # what the entry point names

        @pytest.fixture
        def instance_config(self):
            # valid settings, secrets set to canary values; point the
            # connector at a local server (or an unreachable port)
            return InstanceConfig(tenant="t", name="acme", connector="acme",
                                  settings=validate_instance_settings(...))

        @pytest.fixture
        def forged_callback(self, instance_config):
            return CallbackRequest(kind="status", url=..., method="POST",
                                   headers={"x-acme-signature": "forged"}, body=b"...")
    """

    connector_class: ClassVar[type[Connector]]
    #: the module your ``relaykit.connectors`` entry point names
    plugin_module: ClassVar[str]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize the spec-derived checks with what ``connector_class``'s spec declares."""
        try:
            parameters = spec_derived_parameters(self.connector_class.spec())
        except Exception:  # an invalid spec: test_spec_validates_and_names_the_connector says why
            parameters = {name: [] for name in SPEC_DERIVED_PARAMETERS}
        for name, values in parameters.items():
            if name in metafunc.fixturenames:
                metafunc.parametrize(name, values, ids=[str(v) for v in values])

    @pytest.fixture
    def instance_config(self) -> InstanceConfig:
        raise NotImplementedError("override the instance_config fixture")

    @pytest.fixture
    def forged_callback(self, instance_config: InstanceConfig) -> CallbackRequest:
        raise NotImplementedError("override the forged_callback fixture")

    def test_spec_validates_and_names_the_connector(self) -> None:
        spec = self.connector_class.spec()
        assert isinstance(spec, ConnectorSpec)
        assert spec.id == self.connector_class.name

    def test_describe_fields_matches_spec(self, plugin_host: PluginHost) -> None:
        spec = self.connector_class.spec()
        described = plugin_host.pm.hook.describe_fields(connector_class=self.connector_class)
        assert described == spec.fields()
        legacy = getattr(self.connector_class, "describe_fields", None)
        if callable(legacy):  # the classmethod older hosts called: it must not disagree
            assert legacy() == spec.fields(), (
                "describe_fields() differs from the spec's data_fields"
            )

    def test_shipped_settings_schema_is_the_settings_models(self) -> None:
        model = settings_model_of(self.connector_class)
        if model is None:
            return  # spec.json's settings_schema is then the one declaration: nothing to agree
        shipped = dict(self.connector_class.spec().settings_schema)
        assert shipped == settings_schema(model), (
            "spec.json's settings_schema differs from the settings_model: "
            "run `relaykit specs export` in the connector's project"
        )

    def test_settings_model_parses_the_instance_settings(
        self, instance_config: InstanceConfig
    ) -> None:
        model = settings_model_of(self.connector_class)
        if model is None:
            return  # the host validates with spec.json's settings_schema alone
        parsed = model.from_config(instance_config)
        assert isinstance(parsed, model)
        for name in model.secret_fields:
            value = getattr(parsed, name)
            assert value is None or isinstance(value, SecretStr), f"{name} must stay SecretStr"

    def test_connector_methods_are_async(self) -> None:
        for method in ("authenticate", "send", "handle_callback", "aclose"):
            assert inspect.iscoroutinefunction(getattr(self.connector_class, method)), method

    def test_plugin_registers_the_connector(self, plugin_host: PluginHost) -> None:
        module = importlib.import_module(self.plugin_module)
        status = plugin_host.register_plugin(module, self.connector_class.name)
        assert status.available, status.reason
        assert (
            plugin_host.connectors.get(self.connector_class.name).connector_class
            is self.connector_class
        )

    def test_secrets_stay_out_of_reprs(self, instance_config: InstanceConfig) -> None:
        secrets = secret_values(instance_config, self.connector_class.spec())
        connector = self.connector_class(instance_config)
        shown = " ".join(
            [
                repr(connector),
                str(connector),
                repr(instance_config),
                repr(dict(instance_config.settings)),
            ]
        )
        assert_no_secret(shown, secrets, where="reprs")

    @pytest.mark.asyncio
    async def test_authenticate_reports_instead_of_raising_and_leaks_nothing(
        self, instance_config: InstanceConfig
    ) -> None:
        secrets = secret_values(instance_config, self.connector_class.spec())
        with captured_logs() as logs:
            connector = self.connector_class(instance_config)
            try:
                status = await connector.authenticate()
            finally:
                await connector.aclose()
        assert isinstance(status, ConnectionStatus)
        assert_no_secret(logs.getvalue() + status.detail, secrets, where="logs or status")

    @pytest.mark.asyncio
    async def test_forged_callback_is_rejected(
        self, instance_config: InstanceConfig, forged_callback: CallbackRequest
    ) -> None:
        connector = self.connector_class(instance_config)
        try:
            with pytest.raises(CallbackVerificationError):
                await connector.handle_callback(forged_callback)
        finally:
            await connector.aclose()

    # Checks derived from the spec (Airbyte's request #9601): each required setting, secret
    # setting, callback kind and undeclared channel the spec implies gets its own test.

    def sample_address(self, channel: Channel) -> str:
        """An address of ``channel``'s kind the kit sends to; override for other kinds."""
        if channel in SAMPLE_ADDRESSES:
            return SAMPLE_ADDRESSES[channel]
        for declared in self.connector_class.spec().declared_channels:
            if declared.kind == channel and declared.example:
                return declared.example
        raise LookupError(
            f"no sample address for channel {channel.value!r}: give its declaration in the spec"
            ' an "example", or override sample_address()'
        )

    def secret_canary(self, name: str) -> str:
        """A recognisable value for secret setting ``name``; override if its schema needs a form."""
        return f"rk-canary-{name}-{uuid.uuid4().hex}"

    def forged_callback_of_kind(self, forged: CallbackRequest, kind: str) -> CallbackRequest:
        """``forged`` (the ``forged_callback`` fixture) sent to the webhook of ``kind``."""
        return replace(forged, kind=kind)

    def test_each_required_setting_when_missing_is_named(
        self, instance_config: InstanceConfig, required_setting: str
    ) -> None:
        spec = self.connector_class.spec()
        described = spec.settings_schema.get("properties", {}).get(required_setting, {})
        assert described.get("description"), (
            f"required setting {required_setting!r} has no description in the settings schema;"
            " the error for a missing setting shows it"
        )
        raw = plain_settings(instance_config)
        raw.pop(required_setting, None)
        with pytest.raises(ConfigError) as refused:
            validate_instance_settings(spec, raw)
        assert f"settings.{required_setting}: is required" in str(refused.value)
        assert_no_secret(str(refused.value), secret_values(instance_config, spec), where="error")

    @pytest.mark.asyncio
    async def test_each_secret_setting_stays_out_of_reprs_errors_and_logs(
        self,
        instance_config: InstanceConfig,
        forged_callback: CallbackRequest,
        secret_setting: str,
    ) -> None:
        spec = self.connector_class.spec()
        config, secret = self._canary_config(instance_config, spec, secret_setting)
        shown: list[str] = []
        with captured_logs() as logs:
            connector = self.connector_class(config)
            try:
                shown += [repr(connector), str(connector), repr(config)]
                status = await connector.authenticate()
                shown += [repr(status), status.detail]
                for channel in spec.channels:
                    message = OutboundMessage(
                        channel, self.sample_address(channel), "conformance", reference="rk-1"
                    )
                    shown.append(await _outcome_text(connector.send(message)))
                for kind in spec.callback_kinds:
                    request = self.forged_callback_of_kind(forged_callback, kind)
                    shown.append(await _outcome_text(connector.handle_callback(request)))
            finally:
                await connector.aclose()
        assert_no_secret(
            "\n".join(shown) + logs.getvalue(),
            [secret],
            where=f"a repr, status, error or log line (secret setting {secret_setting!r})",
        )

    def _canary_config(
        self, config: InstanceConfig, spec: ConnectorSpec, name: str
    ) -> tuple[InstanceConfig, str]:
        """``config`` with secret ``name`` set to a canary, and the canary's plain value."""
        raw = plain_settings(config)
        for candidate in (self.secret_canary(name), raw.get(name)):
            if not isinstance(candidate, str):
                continue
            try:
                settings = validate_instance_settings(spec, {**raw, name: candidate})
            except ConfigError:
                continue
            return replace(config, settings=settings), candidate
        pytest.skip(
            f"no valid value for secret setting {name!r}: set it in instance_config, or"
            " override secret_canary() to return a value its schema accepts"
        )

    @pytest.mark.asyncio
    async def test_each_callback_kind_refuses_forged_and_unsigned_requests(
        self, instance_config: InstanceConfig, forged_callback: CallbackRequest, callback_kind: str
    ) -> None:
        forged = self.forged_callback_of_kind(forged_callback, callback_kind)
        unsigned = replace(forged, headers={})
        connector = self.connector_class(instance_config)
        try:
            for request in (forged, unsigned):
                with pytest.raises(CallbackVerificationError):
                    await connector.handle_callback(request)
        finally:
            await connector.aclose()

    @pytest.mark.asyncio
    async def test_send_on_an_undeclared_channel_is_refused(
        self, instance_config: InstanceConfig, undeclared_channel: Channel
    ) -> None:
        message = OutboundMessage(
            undeclared_channel, self.sample_address(undeclared_channel), "conformance"
        )
        connector = self.connector_class(instance_config)
        try:
            with pytest.raises(PermanentSendError) as refused:
                await connector.send(message)
        finally:
            await connector.aclose()
        assert undeclared_channel.value in str(refused.value), (
            "the refusal should name the channel it does not serve"
        )

    def test_data_fields_are_well_formed(self) -> None:
        spec = self.connector_class.spec()
        rows = spec.fields()
        for row in rows:
            for field in (row.host_field, row.vendor_field):
                assert field.strip() == field and field, f"blank or padded field name {field!r}"
        keys = [(row.direction, row.host_field) for row in rows]
        duplicates = sorted({f"{d.value} {h}" for d, h in keys if keys.count((d, h)) > 1})
        assert not duplicates, f"data_fields repeat a host field: {duplicates}"
        assert any(row.direction is Direction.OUTBOUND for row in rows), (
            "data_fields declare nothing outbound, but every connector sends"
        )
        if spec.callback_kinds:
            assert any(row.direction is Direction.INBOUND for row in rows), (
                f"the spec declares callbacks {list(spec.callback_kinds)}"
                " but no inbound data_fields"
            )

    def test_declared_channels_have_address_kinds_the_connector_handles(self) -> None:
        """Derived from the spec: a shipped channel has its own address kind; a custom address
        kind is normalised by the connector, which refuses an empty address and gives its
        spec ``example`` back unchanged when normalised twice."""
        spec = self.connector_class.spec()
        problem = address_kind_problem(spec.id, spec, self.connector_class)
        assert problem is None, problem
        for declared in spec.declared_channels:
            if declared.is_builtin_kind:
                continue
            kind, where = declared.address_kind, f"channel {declared.kind.value!r}"
            assert declared.example, (
                f"{where}: give an example {kind.value} in the spec's channel declaration "
                '("example": "...") so the conformance checks can normalise it'
            )
            normalize = cast(type[SupportsAddresses], self.connector_class).normalize_address
            once = normalize(kind, declared.example)
            assert isinstance(once, str) and once, f"{where}: normalize_address returned {once!r}"
            assert normalize(kind, once) == once, f"{where}: normalising twice changes {once!r}"
            with pytest.raises(InvalidAddressError):
                normalize(kind, "")


async def _outcome_text(call: Awaitable[object]) -> str:
    """What a caller gets to see of ``call``: its result's repr, or its error's text."""
    try:
        return repr(await call)
    except Exception as exc:  # any error's text must be free of secrets
        return f"{exc!s} {exc!r}"


@contextmanager
def captured_logs(level: str = "debug") -> Iterator[io.StringIO]:
    """Route relaykit's logging (structlog and stdlib) into a buffer as JSON lines for the block.

    What was configured before is restored afterwards.
    """
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging(format="json", level=level, stream=buffer)
    try:
        yield buffer
    finally:
        structlog.configure(**saved_structlog)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
def plugin_host() -> PluginHost:
    """A fresh plugin host: the core plugin only, no entry points loaded, strict."""
    return PluginHost(strict=True)


DistributionWriter = Callable[..., Path]


@pytest.fixture
def connector_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DistributionWriter]:
    """A factory "installing" a distribution with a ``relaykit.connectors`` entry point.

    ``connector_distribution(name, source=..., dist="relaykit-acme",
    module="relaykit_acme", files={"spec.json": ...})`` writes ``source`` as
    the package ``module`` (plus extra ``files`` beside it), then a
    ``.dist-info`` whose entry point ``name`` names that module, and puts the
    folder on ``sys.path``: ``importlib.metadata`` finds it like any installed
    package. With ``source=None`` only the ``.dist-info`` is written, for a
    module that is already importable (e.g. from ``extra_path``).
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    written: list[str] = []

    def write(
        name: str,
        *,
        source: str | None = None,
        dist: str | None = None,
        module: str | None = None,
        files: dict[str, str] | None = None,
        extra_path: Path | None = None,
        group: str = CONNECTOR_GROUP,
        version: str = "1.0.0",
    ) -> Path:
        dist = dist or f"relaykit-{name}"
        module = module or f"relaykit_{name.replace('-', '_')}"
        if extra_path is not None:
            monkeypatch.syspath_prepend(str(extra_path))
        if source is not None:
            package = site / module.split(".")[0]
            package.mkdir()
            (package / "__init__.py").write_text(textwrap.dedent(source), "utf-8")
            for filename, content in (files or {}).items():
                (package / filename).write_text(content, "utf-8")
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", "utf-8"
        )
        (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}\n", "utf-8")
        if source is not None:
            written.append(module.split(".")[0])
        importlib.invalidate_caches()
        return info

    yield write
    for module in written:
        for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
            del sys.modules[loaded]
