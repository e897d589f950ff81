"""Whether edited events may replace the running ones (a reload, :mod:`relaykit.delivery.reload`).

The new settings checked their events against their own routes. What runs on
is more: the routes read at start-up, and the templates tenants saved
(``relaykit templates set``). An edit that either could no longer send is
refused, naming what to change.
"""

from __future__ import annotations

from relaykit.delivery.relay import Relay
from relaykit.errors import ConfigError
from relaykit.settings import RelaykitSettings, TenantSettings
from relaykit.templates import TemplateCatalog, TemplateError, TemplatePart

__all__ = ["checked_events"]


def checked_events(relay: Relay, settings: RelaykitSettings) -> TemplateCatalog:
    """The relay's catalog as it would be with the events ``settings`` declares.

    :raises ConfigError: an event is malformed, a running route sends one by a
        channel it has no templates for, or a tenant's saved template does not
        compile against the edited event; names the field and the fix.
    """
    try:
        candidate = relay.templates.redeclared(settings.declared_events())
    except (TemplateError, ValueError) as exc:  # an events file changed again since it was read
        raise ConfigError(str(exc)) from None
    running = relay.host.settings.tenants
    for tenant, tenant_settings in running.items():
        _check_routes(candidate, tenant, tenant_settings)
    for changed in relay.templates.changed_events(candidate):
        owner, _, event = changed.rpartition("/")
        for tenant in [owner] if owner else list(running):
            _check_saved_templates(candidate, tenant, event)
    return candidate


def _check_routes(candidate: TemplateCatalog, tenant: str, running: TenantSettings) -> None:
    """Each event the tenant's running routes send has the templates of their channels."""
    for event in candidate.events(tenant):
        key = event.name if event.name in running.routes else "default"
        route = running.routes.get(key)
        if route is None:
            continue
        channels = {step.channel for step in route.steps}
        channels |= {step.channel for steps in route.by_kind.values() for step in steps}
        missing = candidate.missing_channels(event.name, channels, tenant)
        if missing:
            names = ", ".join(c.value for c in missing)
            raise ConfigError(
                f"the running route tenants.{tenant}.routes.{key} sends {event.name!r} by "
                f"{names}, but the edited event has no {names} template: keep its {names} "
                f"templates, or change the route and restart (routes are read at start-up)"
            )


def _check_saved_templates(candidate: TemplateCatalog, tenant: str, event: str) -> None:
    """The tenant's saved templates of ``event`` (if it still has it) compile against it."""
    if event not in {e.name for e in candidate.events(tenant)}:
        return  # removed: nothing sends it, its saved templates are unused
    for part in TemplatePart:
        if candidate.overrides.get(tenant, event, part) is None:
            continue
        try:
            candidate.template(event, part, tenant)
        except TemplateError as exc:
            raise ConfigError(
                f"{exc}; keep the event's variables this saved template uses, or reset it "
                f"first: relaykit templates reset {event} {part.value} --tenant {tenant}"
            ) from None
