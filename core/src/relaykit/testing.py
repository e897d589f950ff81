"""Test helpers for connector authors; a pytest plugin (``pytest11`` entry point ``relaykit``).

* :class:`ConnectorConformance` - subclass it in your plugin's test suite and
  every connector passes the same checks the first-party ones do.
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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, cast

import pytest
import structlog

from relaykit.addresses import InvalidAddressError, SupportsAddresses
from relaykit.connectors import Connector, InstanceConfig, address_kind_problem
from relaykit.errors import CallbackVerificationError
from relaykit.logs import configure_logging
from relaykit.plugins import CONNECTOR_GROUP, PluginHost
from relaykit.redaction import encoded_forms
from relaykit.results import CallbackRequest, ConnectionStatus
from relaykit.spec import ConnectorSpec

__all__ = [
    "ConnectorConformance",
    "DistributionWriter",
    "assert_no_secret",
    "captured_logs",
    "connector_distribution",
    "plugin_host",
    "secret_values",
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

    def test_describe_fields_matches_spec(self) -> None:
        assert self.connector_class.describe_fields() == self.connector_class.spec().fields()

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

    async def test_forged_callback_is_rejected(
        self, instance_config: InstanceConfig, forged_callback: CallbackRequest
    ) -> None:
        connector = self.connector_class(instance_config)
        try:
            with pytest.raises(CallbackVerificationError):
                await connector.handle_callback(forged_callback)
        finally:
            await connector.aclose()

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
