"""The template catalog: shipped defaults, tenant overrides, rendering and preview."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from relaykit.results import Channel, ProviderTemplate
from relaykit.templates._compile import CompiledTemplate, compile_template
from relaykit.templates._declared import CHANNEL_PARTS, DeclaredEvents, declare_layers
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


def as_part(part: TemplatePart | str) -> TemplatePart:
    """``part`` as a :class:`TemplatePart`; a clear error for an unknown name."""
    try:
        return TemplatePart(part)
    except ValueError:
        names = ", ".join(p.value for p in TemplatePart)
        raise TemplateError(f"unknown template part {part!r}; use one of {names}") from None


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
        shipped = defaults if defaults is not None else default_templates()
        declared = declared or DeclaredEvents()
        self._defaults = declare_layers(shipped, declared.shared)
        self._tenants = {
            tenant: declare_layers(self._defaults, layers)
            for tenant, layers in declared.tenants.items()
            if layers
        }
        self.overrides: TemplateOverrides = (
            overrides if overrides is not None else InMemoryTemplateOverrides()
        )
        self._compile_stored = functools.lru_cache(maxsize=cache_size)(self._compile)

    # -- events -----------------------------------------------------------------

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
        return self._default(event, as_part(part), tenant).source

    def source(self, event: str, part: TemplatePart | str, tenant: str | None = None) -> str:
        """The source in effect: the tenant's override, else the shipped default."""
        return self.template(event, part, tenant).source

    def is_overridden(self, tenant: str, event: str, part: TemplatePart | str) -> bool:
        """True when the tenant has its own source for this part."""
        self.event(event, tenant)
        return self.overrides.get(tenant, event, as_part(part)) is not None

    def template(
        self, event: str, part: TemplatePart | str, tenant: str | None = None
    ) -> CompiledTemplate:
        """The compiled template in effect for the tenant (tenant override > default).

        :raises TemplateError: the stored override no longer compiles (e.g. it uses
            a variable the event stopped declaring); the message names the tenant.
        """
        resolved = as_part(part)
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
        """Render every part the channel needs: the body, or subject, text and HTML for email."""
        if channel is Channel.SMS:
            return RenderedMessage(channel, self.render(tenant, event, TemplatePart.SMS, data))
        if channel is Channel.WHATSAPP:
            body = self.render(tenant, event, TemplatePart.WHATSAPP, data)
            return RenderedMessage(channel, body)
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
        resolved = as_part(part)
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
        return compile_template(source, self.event(event, tenant), as_part(part))

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
        self.overrides.reset(tenant, event, None if part is None else as_part(part))

    # -- internals --------------------------------------------------------------

    def _default(self, event: str, part: TemplatePart, tenant: str | None) -> CompiledTemplate:
        self.event(event, tenant)
        try:
            return self._layer(tenant).templates[event, part]
        except KeyError:
            channel = part.channel
            needed = " + ".join(p.value for p in CHANNEL_PARTS[channel])
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
