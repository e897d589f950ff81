"""Building the plugin manager: entry-point discovery, per-plugin isolation, connector registration.

Connector plugins come from the entry-point group ``relaykit.connectors``,
middleware plugins from ``relaykit.plugins``. Each entry point is loaded on
its own: one that fails to import, to register, or whose connector's spec
does not validate is fully unregistered and reported as unavailable with the
reason, and the others keep working - unless strict mode
(``RELAYKIT_STRICT_PLUGINS=1``) turns that into an error.

Environment:

* ``RELAYKIT_LOAD_PLUGINS``: comma-separated entry-point names to load; set
  but empty loads none. Unset loads all.
* ``RELAYKIT_STRICT_PLUGINS=1``: raise on the first plugin that fails.
* ``RELAYKIT_TRACE_PLUGINS=1``: log every hook call and its result.

relaykit's own plugins are listed once, in :data:`BUILTIN_PLUGINS`, in the
order their middleware runs. Connector calls go through
:attr:`PluginHost.chains`: the middleware composed once per plugin set
(see :mod:`relaykit.middleware`), not a pluggy dispatch per call.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy
from pluggy import HookImpl, Result

from relaykit import hookspecs
from relaykit._core_plugin import CORE_PLUGIN_NAME, CorePlugin
from relaykit.connectors import (
    Connector,
    ConnectorRegistry,
    RegisteredConnector,
    address_kind_problem,
    contract_version_problem,
)
from relaykit.errors import DuplicateConnectorError, PluginLoadError
from relaykit.logs import get_logger
from relaykit.middleware import Chains, Middleware, compose_chains
from relaykit.middleware.call_log import CALL_LOG_PLUGIN_NAME, CallLog
from relaykit.sandboxes import SandboxFactory, SandboxRegistry
from relaykit.settings_schema import spec_with_settings_model

__all__ = [
    "BUILTIN_PLUGINS",
    "CONNECTOR_GROUP",
    "MIDDLEWARE_GROUP",
    "RATE_LIMIT_PLUGIN_NAME",
    "PluginHost",
    "PluginStatus",
    "build_plugin_host",
]

CONNECTOR_GROUP = "relaykit.connectors"
MIDDLEWARE_GROUP = "relaykit.plugins"
_ASYNC_METHODS = ("authenticate", "send", "handle_callback", "aclose")

#: The per-sender rate limiter (:class:`relaykit.delivery.ratelimit.RateLimiter`). It needs
#: the store, so the relay registers it under this name; every plugin host has the others.
RATE_LIMIT_PLUGIN_NAME = "relaykit.rate_limit"
#: relaykit's own plugins, outermost first: every connector call is logged (paced sends
#: too), then waits for its sender's token, then reaches the core's call of the connector.
BUILTIN_PLUGINS = (CALL_LOG_PLUGIN_NAME, RATE_LIMIT_PLUGIN_NAME, CORE_PLUGIN_NAME)
#: The built-ins every plugin host registers at once.
_ALWAYS: dict[str, type[object]] = {CALL_LOG_PLUGIN_NAME: CallLog, CORE_PLUGIN_NAME: CorePlugin}

log = get_logger("relaykit.plugins")


@dataclass(frozen=True)
class PluginStatus:
    """How loading one plugin went; ``reason`` says why an unavailable one is unavailable."""

    name: str
    group: str
    distribution: str
    version: str
    available: bool
    reason: str = ""


@dataclass(frozen=True)
class _Origin:
    plugin_name: str
    distribution: str
    version: str
    entry_point: str | None


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, counting registrations so composed chains know when they are stale."""

    changes = 0
    #: hook calls are logged (``RELAYKIT_TRACE_PLUGINS``), so every call goes through pluggy
    traced = False

    def register(self, plugin: object, name: str | None = None) -> str | None:
        try:
            return super().register(plugin, name)
        finally:
            self.changes += 1

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        try:
            return super().unregister(plugin, name)
        finally:
            self.changes += 1


class PluginHost:
    """The plugin manager together with what the plugins registered.

    Build it with :func:`build_plugin_host`; register a plugin after that with
    :meth:`register_plugin` (tests do, to add throwaway connectors).
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.pm = _PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.strict = strict
        self.connectors = ConnectorRegistry()
        self.sandboxes = SandboxRegistry()
        self.statuses: list[PluginStatus] = []
        self._origin: _Origin | None = None
        self._chains: tuple[int, Chains] | None = None
        for name, builtin in _ALWAYS.items():
            self.pm.register(builtin(), name=name)
        self.pm.hook.register_connectors.call_historic(kwargs={"register": self._add_connector})
        self.pm.hook.register_sandboxes.call_historic(kwargs={"register": self._add_sandbox})

    @property
    def chains(self) -> Chains:
        """The connector hooks' calls through every :class:`Middleware`, composed once.

        Built-ins run in :data:`BUILTIN_PLUGINS` order, then other middleware in
        registration order (outermost first), then pluggy wrappers, if any.
        Composed again after any plugin is registered or unregistered.
        """
        chains = self._chains
        if chains is None or chains[0] != self.pm.changes:
            composed = compose_chains(
                self.pm, self.middleware(), CORE_PLUGIN_NAME, traced=self.pm.traced
            )
            chains = self._chains = (self.pm.changes, composed)
        return chains[1]

    def middleware(self) -> list[Middleware]:
        """The registered :class:`Middleware` objects, outermost first."""
        rank = {name: index for index, name in enumerate(BUILTIN_PLUGINS)}
        found = [
            (rank.get(name, len(rank)), plugin)
            for name, plugin in self.pm.list_name_plugin()
            if isinstance(plugin, Middleware)
        ]
        return [plugin for _, plugin in sorted(found, key=lambda pair: pair[0])]

    # -- registration -------------------------------------------------------------------------

    def register_plugin(
        self,
        plugin: object,
        name: str,
        *,
        group: str = CONNECTOR_GROUP,
        distribution: str = "",
        version: str = "",
        entry_point: str | None = None,
    ) -> PluginStatus:
        """Register one plugin object in isolation; a failure unregisters it completely.

        :returns: the plugin's status (also kept in :attr:`statuses`).
        :raises PluginLoadError: on failure in strict mode.
        """
        origin = _Origin(name, distribution or name, version, entry_point)
        try:
            with self._registering(origin):
                self.pm.register(plugin, name=name)
            self._refuse_connector_hook_impls(name)
        except Exception as exc:
            self._forget(name)
            return self._record_failure(origin, group, exc)
        status = PluginStatus(name, group, origin.distribution, version, available=True)
        self.statuses.append(status)
        return status

    def load_entry_points(
        self, groups: tuple[str, ...] = (CONNECTOR_GROUP, MIDDLEWARE_GROUP)
    ) -> None:
        """Load and register every selected entry point of ``groups``, one at a time."""
        wanted = _wanted_plugins()
        for group in groups:
            for ep in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
                if wanted is not None and ep.name not in wanted:
                    continue
                dist = ep.dist.name if ep.dist else ""
                version = ep.dist.version if ep.dist else ""
                origin = _Origin(ep.name, dist, version, ep.name)
                try:
                    plugin = ep.load()
                except Exception as exc:
                    self._record_failure(origin, group, exc, during="import")
                    continue
                if self.pm.is_registered(plugin):
                    continue
                if self.pm.has_plugin(ep.name):
                    self._record_failure(origin, group, self._duplicate(ep.name, dist))
                    continue
                self.register_plugin(
                    plugin,
                    ep.name,
                    group=group,
                    distribution=dist,
                    version=version,
                    entry_point=ep.name if group == CONNECTOR_GROUP else None,
                )

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin and everything it registered."""
        self._forget(name)

    # -- callbacks handed to plugins ----------------------------------------------------------

    def _add_connector(self, connector_class: type[Connector]) -> None:
        origin = self._origin or _Origin("(unknown)", "(unknown)", "", None)
        name = getattr(connector_class, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginLoadError(f"{connector_class!r} has no string class attribute 'name'")
        problem = contract_version_problem(name, getattr(connector_class, "contract_version", None))
        if problem is not None:
            raise PluginLoadError(problem)
        missing = [
            m
            for m in _ASYNC_METHODS
            if not inspect.iscoroutinefunction(getattr(connector_class, m, None))
        ]
        if missing:
            raise PluginLoadError(
                f"connector {name!r} must define async methods: {', '.join(missing)}"
            )
        if not callable(getattr(connector_class, "spec", None)):
            raise PluginLoadError(f"connector {name!r} has no classmethod spec()")
        spec = spec_with_settings_model(connector_class, connector_class.spec())
        if spec.id != name:
            raise PluginLoadError(
                f"connector {name!r} declares spec id {spec.id!r}; they must be equal"
            )
        problem = address_kind_problem(name, spec, connector_class)
        if problem is not None:
            raise PluginLoadError(problem)
        if origin.entry_point is not None and origin.entry_point != name:
            raise PluginLoadError(
                f"connector {name!r} is registered from entry point {origin.entry_point!r}; "
                "name the entry point after the connector"
            )
        self.connectors.add(
            RegisteredConnector(
                name=name,
                connector_class=connector_class,
                spec=spec,
                plugin_name=origin.plugin_name,
                distribution=origin.distribution,
                version=origin.version,
            )
        )

    def _add_sandbox(self, name: str, factory: SandboxFactory) -> None:
        self.sandboxes.add(name, factory)

    # -- helpers ------------------------------------------------------------------------------

    @contextmanager
    def _registering(self, origin: _Origin) -> Iterator[None]:
        previous, self._origin = self._origin, origin
        try:
            yield
        finally:
            self._origin = previous

    def _refuse_connector_hook_impls(self, name: str) -> None:
        for hook_name in hookspecs.CONNECTOR_HOOKS:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name == name and not (impl.wrapper or impl.hookwrapper):
                    raise PluginLoadError(
                        f"plugin {name!r} implements the {hook_name!r} hook; only the core may. "
                        "Connectors implement the Connector methods; middleware uses wrapper=True"
                    )

    def _duplicate(self, name: str, distribution: str) -> DuplicateConnectorError:
        first = next((s.distribution for s in self.statuses if s.name == name), "(unknown)")
        return DuplicateConnectorError(
            f"connector name {name!r} is registered by both {first!r} and {distribution!r}; "
            "uninstall one of them"
        )

    def _forget(self, name: str) -> None:
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self.connectors.remove_plugin(name)

    def _record_failure(
        self, origin: _Origin, group: str, exc: Exception, *, during: str = "registration"
    ) -> PluginStatus:
        reason = f"{during} failed: {type(exc).__name__}: {exc}"
        status = PluginStatus(
            origin.plugin_name,
            group,
            origin.distribution,
            origin.version,
            available=False,
            reason=reason,
        )
        self.statuses.append(status)
        if self.strict:
            raise PluginLoadError(
                f"plugin {origin.plugin_name!r} is unavailable: {reason}"
            ) from exc
        log.warning("plugin_unavailable", plugin=origin.plugin_name, reason=reason)
        return status


def build_plugin_host(*, load_entry_points: bool = True, strict: bool | None = None) -> PluginHost:
    """A fresh plugin host with the core plugin and (by default) every installed entry point.

    :param strict: raise on a broken plugin instead of reporting it; defaults
        to ``RELAYKIT_STRICT_PLUGINS``.
    """
    if strict is None:
        strict = os.environ.get("RELAYKIT_STRICT_PLUGINS", "") not in ("", "0", "false", "no")
    host = PluginHost(strict=strict)
    if os.environ.get("RELAYKIT_TRACE_PLUGINS", "") not in ("", "0"):
        _trace(host.pm)
    if load_entry_points:
        host.load_entry_points()
    return host


def _wanted_plugins() -> set[str] | None:
    raw = os.environ.get("RELAYKIT_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _trace(pm: _PluginManager) -> None:
    def before(hook_name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]) -> None:
        log.debug("hook_call", hook=hook_name, plugins=[i.plugin_name for i in impls])

    def after(
        outcome: Result[Any], hook_name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]
    ) -> None:
        error = outcome.exception
        log.debug("hook_result", hook=hook_name, error=repr(error) if error else None)

    pm.add_hookcall_monitoring(before, after)
    pm.traced = True
    pm.changes += 1
