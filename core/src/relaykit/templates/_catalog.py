"""The template catalog: shipped defaults, tenant overrides, rendering and preview."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from relaykit.results import Channel, ProviderTemplate
from relaykit.templates._compile import CompiledTemplate, compile_template
from relaykit.templates._declared import (
    DeclaredEvents,
    channel_parts,
    declare_layers,
    missing_channels,
)
from relaykit.templates._defaults import DefaultTemplates, default_templates
from relaykit.templates._model import EventSpec, TemplateError, TemplatePart, UnknownEventError
from relaykit.templates._overrides import InMemoryTemplateOverrides, TemplateOverrides
from relaykit.templates._preview import DEFAULT_MAX_LENGTH, Preview, build_preview

__all__ = ["RenderedMessage", "TemplateCatalog"]


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One event's message rendered for one channel, ready for an ``OutboundMessage``.

    :ivar body: the SMS or WhatsApp body, or the email's plain-text part.
    :ivar subject: the email subject (one line); ``None`` for SMS and WhatsApp.
    :ivar html_body: the email's HTML part; ``None`` for SMS and WhatsApp.
    """

    channel: Channel
    body: str
    subject: str | None = None
    html_body: str | None = None


def as_part(
    part: TemplatePart | str, declared: frozenset[TemplatePart] = frozenset()
) -> TemplatePart:
    """``part`` as a :class:`TemplatePart`: a shipped part, or one of ``declared`` (the
    bodies of declared channels an event has); a clear error for any other name."""
    try:
        resolved = TemplatePart(part)
    except ValueError:
        resolved = None
    if resolved is not None and (resolved.is_well_known or resolved in declared):
        return resolved
    names = ", ".join([*(p.value for p in TemplatePart), *sorted(declared)])
    raise TemplateError(f"unknown template part {str(part)!r}; use one of {names}") from None


class TemplateCatalog:
    """Every event's templates: the shipped default, unless the tenant overrides it.

    Events come in layers: the shipped ones, then those the whole config
    declares (``[events.NAME]``), then a tenant's own
    (``[tenants.T.events.NAME]``); a declaration replaces the event of the same
    name beneath it. A tenant's stored overrides apply on top.

    Templates are parsed once: the defaults when first loaded, each distinct
    override source the first time it is used (kept in an LRU cache of
    ``cache_size`` entries), never per message.

    :param overrides: where tenants' sources are kept; an empty in-memory store
        when omitted.
    :param defaults: the shipped defaults, unless a test supplies others.
    :param declared: the events the configuration declares
        (:meth:`relaykit.settings.RelaykitSettings.declared_events`).
    :raises TemplateError: a declared event is malformed (names the field).
    """

    def __init__(
        self,
        overrides: TemplateOverrides | None = None,
        *,
        defaults: DefaultTemplates | None = None,
        declared: DeclaredEvents | None = None,
        cache_size: int = 1024,
    ) -> None:
        self._shipped = defaults if defaults is not None else default_templates()
        self._defaults, self._tenants = self._layered(declared or DeclaredEvents())
        self.overrides: TemplateOverrides = (
            overrides if overrides is not None else InMemoryTemplateOverrides()
        )
        self._compile_stored = functools.lru_cache(maxsize=cache_size)(self._compile)

    # -- events -----------------------------------------------------------------

    def _layered(
        self, declared: DeclaredEvents
    ) -> tuple[DefaultTemplates, dict[str, DefaultTemplates]]:
        """The config's layer and each tenant's, ``declared`` over the shipped events."""
        shared = declare_layers(self._shipped, declared.shared, declared.channels)
        tenants = {
            tenant: declare_layers(shared, layers, declared.channels)
            for tenant, layers in declared.tenants.items()
            if layers
        }
        return shared, tenants

    def redeclared(self, declared: DeclaredEvents) -> TemplateCatalog:
        """A catalog with the same shipped events and stored overrides, but ``declared``.

        A reload builds one to check it before :meth:`take_events` puts it in effect.

        :raises TemplateError: a declared event is malformed (names the field).
        """
        return TemplateCatalog(self.overrides, defaults=self._shipped, declared=declared)

    def changed_events(self, other: TemplateCatalog) -> list[str]:
        """The events ``other`` adds, changes or removes: ``name`` for the config's,
        ``tenant/name`` for a tenant's own (a tenant's layer compared as a whole)."""
        old, new = self._defaults, other._defaults
        changed = [name for name in _names(old, new) if _differs(old, new, name)]
        for tenant in sorted({*self._tenants, *other._tenants}):
            before, after = self._layer(tenant), other._layer(tenant)
            changed += [
                f"{tenant}/{name}"
                for name in _names(before, after)
                # the tenant's own declaration, before or after (not a change of the config's)
                if (_differs(before, old, name) or _differs(after, new, name))
                and _differs(before, after, name)
            ]
        return changed

    def take_events(self, other: TemplateCatalog) -> list[str]:
        """Put ``other``'s declared events in effect here (a reload), in one step.

        Those holding this catalog (the planner, the API) see the new events
        from their next lookup; stored overrides are compiled again against them.

        :returns: :meth:`changed_events`.
        """
        changed = self.changed_events(other)
        self._defaults, self._tenants = other._defaults, other._tenants
        self._compile_stored.cache_clear()
        return changed

    def missing_channels(
        self, event: str, channels: set[Channel], tenant: str | None = None
    ) -> list[Channel]:
        """Which of ``channels`` the event, as ``tenant`` has it, has no templates for."""
        return missing_channels(self._layer(tenant), event, channels)

    def _layer(self, tenant: str | None) -> DefaultTemplates:
        """The events in effect for ``tenant`` (the config's, when ``None``)."""
        return self._tenants.get(tenant, self._defaults) if tenant else self._defaults

    def events(self, tenant: str | None = None) -> tuple[EventSpec, ...]:
        """Every event with templates, with its declared variables and their descriptions.

        :param tenant: include the tenant's own events; ``None`` for the config's.
        """
        return tuple(self._layer(tenant).events.values())

    def event(self, name: str, tenant: str | None = None) -> EventSpec:
        """The event called ``name``, as ``tenant`` has it.

        :raises UnknownEventError: no event of that name has templates.
        """
        layer = self._layer(tenant)
        try:
            return layer.events[name]
        except KeyError:
            known = ", ".join(layer.events)
            raise UnknownEventError(
                f"no templates for event {name!r}; known events: {known}", event=name
            ) from None

    # -- sources ----------------------------------------------------------------

    def default_source(
        self, event: str, part: TemplatePart | str, tenant: str | None = None
    ) -> str:
        """The source of one part before any stored override: shipped or declared."""
        return self._default(event, self._part(event, part, tenant), tenant).source

    def source(self, event: str, part: TemplatePart | str, tenant: str | None = None) -> str:
        """The source in effect: the tenant's override, else the shipped default."""
        return self.template(event, part, tenant).source

    def is_overridden(self, tenant: str, event: str, part: TemplatePart | str) -> bool:
        """True when the tenant has its own source for this part."""
        self.event(event, tenant)
        return self.overrides.get(tenant, event, self._part(event, part, tenant)) is not None

    def template(
        self, event: str, part: TemplatePart | str, tenant: str | None = None
    ) -> CompiledTemplate:
        """The compiled template in effect for the tenant (tenant override > default).

        :raises TemplateError: the stored override no longer compiles (e.g. it uses
            a variable the event stopped declaring); the message names the tenant.
        """
        resolved = self._part(event, part, tenant)
        if tenant is None:
            return self._default(event, resolved, None)
        self.event(event, tenant)
        stored = self.overrides.get(tenant, event, resolved)
        if stored is None:
            return self._default(event, resolved, tenant)
        try:
            return self._compile_stored(tenant, event, resolved, stored)
        except TemplateError as exc:
            raise TemplateError(
                f"the tenant's saved template is unusable: {exc}",
                tenant=tenant,
                event=event,
                part=resolved,
                variable=exc.variable,
            ) from None

    # -- rendering --------------------------------------------------------------

    def render(
        self,
        tenant: str | None,
        event: str,
        part: TemplatePart | str,
        data: Mapping[str, object],
    ) -> str:
        """Render one part for a real send.

        :raises MissingVariableError: a required variable, or one the template
            uses, is missing from ``data``; names the variable and the event.
        :raises TemplateError: a value is not text or a number, or the rendered
            subject is not a single line.
        """
        return self.template(event, part, tenant).render(data)

    def render_message(
        self,
        tenant: str | None,
        event: str,
        channel: Channel,
        data: Mapping[str, object],
    ) -> RenderedMessage:
        """Render every part the channel needs: the body (SMS, WhatsApp, a declared channel's
        part named by its kind), or subject, text and HTML for email."""
        if channel != Channel.EMAIL:
            (body,) = channel_parts(channel)
            return RenderedMessage(channel, self.render(tenant, event, body, data))
        return RenderedMessage(
            channel,
            body=self.render(tenant, event, TemplatePart.EMAIL_TEXT, data),
            subject=self.render(tenant, event, TemplatePart.EMAIL_SUBJECT, data),
            html_body=self.render(tenant, event, TemplatePart.EMAIL_HTML, data),
        )

    def provider_template(
        self,
        tenant: str | None,
        event: str,
        channel: Channel,
        data: Mapping[str, object],
    ) -> ProviderTemplate | None:
        """The event's template approved at the provider for ``channel``, rendered with
        ``data``; ``None`` when the event names none for that channel.

        :raises MissingVariableError: a required variable is missing from ``data``.
        """
        layer = self._layer(tenant)
        configured = layer.provider_templates.get((event, channel))
        if configured is None:
            return None
        return configured.render(self.event(event, tenant), data)

    def preview(
        self,
        event: str,
        part: TemplatePart | str,
        data: Mapping[str, object] | None = None,
        tenant: str | None = None,
        *,
        source: str | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> Preview:
        """Render with test values and report length, SMS segments and warnings.

        Never fails for missing or undeclared variables (they become warnings and
        ``[name]`` placeholders).

        :param data: test values; the variables' examples when ``None``.
        :param source: a draft to preview instead of the template in effect.
        :param max_length: a longer SMS or WhatsApp body gets a ``too_long`` warning.
        :raises TemplateError: the draft does not parse or uses a partial.
        """
        resolved = self._part(event, part, tenant)
        spec = self.event(event, tenant)
        values = spec.example_data() if data is None else data
        if source is not None:
            draft = compile_template(source, spec, resolved, allow_undeclared=True)
            return build_preview(draft, values, origin="draft", max_length=max_length)
        template = self.template(event, resolved, tenant)
        is_default = not (tenant and self.overrides.get(tenant, event, resolved) is not None)
        return build_preview(
            template,
            values,
            origin="default" if is_default else "override",
            max_length=max_length,
        )

    # -- overrides --------------------------------------------------------------

    def validate(
        self, event: str, part: TemplatePart | str, source: str, tenant: str | None = None
    ) -> CompiledTemplate:
        """Compile ``source`` as this part of the event, as :meth:`set_override` would.

        :raises TemplateError: it does not parse, uses an undeclared variable
            (named in the message), a partial, an unescaped tag in HTML, or a line
            break in a subject.
        """
        return compile_template(source, self.event(event, tenant), self._part(event, part, tenant))

    def set_override(
        self, tenant: str, event: str, part: TemplatePart | str, source: str
    ) -> CompiledTemplate:
        """Validate ``source`` and store it as the tenant's template for this part."""
        compiled = self.validate(event, part, source, tenant)
        self.overrides.set(tenant, event, compiled.part, source)
        return compiled

    def reset_override(
        self, tenant: str, event: str, part: TemplatePart | str | None = None
    ) -> None:
        """Return one part (or every part, when ``part`` is ``None``) to the default."""
        self.event(event, tenant)
        self.overrides.reset(
            tenant, event, None if part is None else self._part(event, part, tenant)
        )

    # -- internals --------------------------------------------------------------

    def _part(self, event: str, part: TemplatePart | str, tenant: str | None) -> TemplatePart:
        """``part`` resolved for ``event``: a shipped part, or a declared channel's body the
        event has a template for."""
        layer = self._layer(tenant)
        if isinstance(part, TemplatePart) and (
            part.is_well_known or (event, part) in layer.templates
        ):
            return part
        declared = frozenset(p for (e, p) in layer.templates if e == event and not p.is_well_known)
        try:
            return as_part(part, declared)
        except TemplateError as exc:
            if not isinstance(part, TemplatePart):
                raise
            raise TemplateError(
                f"{exc} (event {event!r} has no {part.value} template: declare {part.value} "
                f"under [events.{event}.templates], or route {event!r} by another channel)",
                event=event,
                tenant=tenant,
            ) from None

    def _default(self, event: str, part: TemplatePart, tenant: str | None) -> CompiledTemplate:
        self.event(event, tenant)
        try:
            return self._layer(tenant).templates[event, part]
        except KeyError:
            channel = part.channel
            needed = " + ".join(p.value for p in channel_parts(channel))
            raise TemplateError(
                f"event {event!r} has no {channel.value} template: declare {needed} under "
                f"[events.{event}.templates], or route {event!r} by another channel",
                event=event,
                part=part,
                tenant=tenant,
            ) from None

    def _compile(
        self, tenant: str, event: str, part: TemplatePart, source: str
    ) -> CompiledTemplate:
        return compile_template(source, self.event(event, tenant), part)


def _names(*layers: DefaultTemplates) -> list[str]:
    return sorted({name for layer in layers for name in layer.events})


def _differs(one: DefaultTemplates, other: DefaultTemplates, event: str) -> bool:
    """Whether ``event`` has another spec or other template sources in the two layers."""

    def sources(layer: DefaultTemplates) -> dict[TemplatePart, str]:
        return {p: t.source for (e, p), t in layer.templates.items() if e == event}

    return one.events.get(event) != other.events.get(event) or sources(one) != sources(other)
