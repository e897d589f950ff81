"""The connector host: settings + plugins + configured instances, and calls through the hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relaykit.connectors import Connector, InstanceConfig
from relaykit.errors import UnknownInstanceError
from relaykit.instances import build_instance_configs
from relaykit.plugins import PluginHost, build_plugin_host
from relaykit.results import (
    CallbackOutcome,
    CallbackRequest,
    ConnectionStatus,
    FieldSpec,
    OutboundMessage,
    SendReceipt,
)
from relaykit.settings import RelaykitSettings, load_settings

__all__ = ["ConnectorHost"]


class ConnectorHost:
    """Configured connector instances, reachable by ``tenant/instance``.

    Every call goes through the plugin host's composed chain of the hook of
    the same name (:attr:`PluginHost.chains`), so middleware wraps it and the
    one connector instance named answers it. Instances are built on first use and reused (one SDK
    client per instance, never one per message).
    """

    def __init__(self, settings: RelaykitSettings, plugins: PluginHost) -> None:
        self.settings = settings
        self.plugins = plugins
        self.configs: dict[str, InstanceConfig] = build_instance_configs(
            settings, plugins.connectors
        )
        self._live: dict[str, Connector] = {}
        #: Replaced by :meth:`reload`; closed with the host, as sends may still use them.
        self._retired: list[Connector] = []
        #: Where :meth:`from_config` read the settings, for :meth:`reload` to read them again.
        self._sources: tuple[Path | str | None, dict[str, Any]] | None = None

    @classmethod
    def from_config(
        cls,
        config_path: Path | str | None = None,
        *,
        plugins: PluginHost | None = None,
        **overrides: Any,
    ) -> ConnectorHost:
        """Load settings and plugins and validate every instance.

        :raises ConfigError: for any bad setting, naming tenant, instance and field.
        """
        host = cls.from_settings(load_settings(config_path, **overrides), plugins=plugins)
        host._sources = (config_path, dict(overrides))
        return host

    @classmethod
    def from_settings(
        cls, settings: RelaykitSettings, *, plugins: PluginHost | None = None
    ) -> ConnectorHost:
        """A host over already loaded ``settings``, every instance validated and built.

        :raises ConfigError: for any bad instance setting, naming tenant, instance and field.
        """
        host = cls(settings, plugins or build_plugin_host())
        host.build_all()
        return host

    def read_settings(self) -> RelaykitSettings | None:
        """The settings as :meth:`from_config` would read them now (nothing is changed).

        :returns: ``None`` for a host not built by :meth:`from_config`.
        :raises ConfigError: the settings read now are invalid.
        """
        if self._sources is None:
            return None
        config_path, overrides = self._sources
        return load_settings(config_path, **overrides)

    def reload(self, settings: RelaykitSettings | None = None) -> list[str]:
        """Read the settings again and rebuild each instance whose settings changed.

        The sources are the ones :meth:`from_config` read - the TOML file,
        ``RELAYKIT_*`` variables and the files of ``RELAYKIT_SECRETS_DIR`` - so
        a rotated Auth Token or password is picked up without a restart. Only
        the settings of configured instances are taken; other changes
        (tenants, routes, the service) need a restart. A replaced connector
        is closed with the host, since sends in flight may still use it.

        :param settings: settings :meth:`read_settings` has just read, instead
            of reading them again.
        :returns: the labels of the rebuilt instances (none for a host not
            built by :meth:`from_config`).
        :raises ConfigError: the settings read now are invalid; nothing changed.
        """
        settings = settings or self.read_settings()
        if settings is None:
            return []
        configs = build_instance_configs(settings, self.plugins.connectors)
        changed = [
            label for label, config in self.configs.items() if configs.get(label, config) != config
        ]
        fresh = {label: self._build(configs[label]) for label in changed}  # may raise: no change
        for label in changed:
            self.configs[label] = configs[label]
            retired = self._live.pop(label, None)
            if retired is not None:
                self._retired.append(retired)
            self._live[label] = fresh[label]
        return changed

    # -- lookup ---------------------------------------------------------------------------------

    def resolve(self, ref: str) -> InstanceConfig:
        """The instance named ``tenant/instance``, or just ``instance`` when it is unambiguous."""
        if ref in self.configs:
            return self.configs[ref]
        matches = [c for c in self.configs.values() if c.name == ref]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(sorted(self.configs)) or "none configured"
        if len(matches) > 1:
            raise UnknownInstanceError(
                f"{ref!r} is ambiguous; name it as tenant/instance ({known})"
            )
        raise UnknownInstanceError(f"no instance {ref!r} (configured: {known})")

    def connector(self, ref: str) -> Connector:
        """The live connector object of an instance, built on first use."""
        config = self.resolve(ref)
        live = self._live.get(config.label)
        if live is None:
            live = self._live[config.label] = self._build(config)
        return live

    def reports_delivery(self, ref: str) -> bool:
        """Whether the instance's connector reports delivery (``delivered``), not just acceptance.

        A connector class says so with ``reports_delivery: ClassVar[bool]``
        (default ``True``); delivery deadlines apply only where it does.
        """
        config = self.resolve(ref)
        connector_class = self.plugins.connectors.get(config.connector).connector_class
        return bool(getattr(connector_class, "reports_delivery", True))

    def _build(self, config: InstanceConfig) -> Connector:
        return self.plugins.connectors.get(config.connector).connector_class(config)

    def build_all(self) -> None:
        """Build every configured instance now, so a connector's own config checks fail at start-up.

        :raises ConfigError: from a connector that refuses its settings.
        """
        for label in self.configs:
            self.connector(label)

    # -- calls through the middleware ------------------------------------------------------------

    async def authenticate(self, ref: str) -> ConnectionStatus:
        return await self.plugins.chains.authenticate(self.connector(ref))

    async def send(self, ref: str, message: OutboundMessage) -> SendReceipt:
        return await self.plugins.chains.send(self.connector(ref), message)

    async def handle_callback(self, ref: str, request: CallbackRequest) -> CallbackOutcome:
        return await self.plugins.chains.handle_callback(self.connector(ref), request)

    def describe_fields(self, connector_name: str) -> list[FieldSpec]:
        connector_class = self.plugins.connectors.get(connector_name).connector_class
        result: list[FieldSpec] = self.plugins.pm.hook.describe_fields(
            connector_class=connector_class
        )
        return result

    async def aclose(self) -> None:
        """Close every live connector (and those :meth:`reload` replaced)."""
        live, self._live, retired, self._retired = self._live, {}, self._retired, []
        for connector in [*live.values(), *retired]:
            await connector.aclose()

    async def __aenter__(self) -> ConnectorHost:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
