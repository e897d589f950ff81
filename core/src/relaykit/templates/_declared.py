"""Events declared by integrators: ``[events.NAME]`` tables layered over the shipped ones.

A declaration has the shape of a ``defaults.toml`` entry (title, description,
variables, templates). A new event needs a title, its variables and the
templates of at least one channel (``sms``, ``whatsapp``, all three email
parts, or the body of a channel a connector declares, named by its kind:
``pager``). A declaration named like an event beneath it (a shipped event, or one
the whole config declares, for a tenant's own) replaces that event:

* without ``variables``, it changes only what it gives (the title, one
  template part...); everything else is kept from the event beneath;
* with ``variables``, it defines the event anew: the templates are only those
  it gives (templates written for other variables are not kept); a title or
  description left out is kept.

``provider_templates`` (per channel, a template approved at the provider: a
Content SID and its variables; see ``_provider``) layer like the templates.

Every error names the field (``events.doorcode_changed.templates.sms``) and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from relaykit.results import Channel
from relaykit.templates._compile import CompiledTemplate, compile_template
from relaykit.templates._defaults import DefaultTemplates
from relaykit.templates._model import EventSpec, TemplateError, TemplatePart, Variable
from relaykit.templates._provider import ProviderTemplateSpec, parse_provider_templates

__all__ = [
    "CHANNEL_PARTS",
    "DeclaredEvents",
    "EventTables",
    "channel_parts",
    "declare_events",
    "declare_layers",
    "missing_channels",
]

_EVENT_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
_VARIABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EVENT_KEYS: Final = ("title", "description", "variables", "templates", "provider_templates")
_VARIABLE_KEYS: Final = ("description", "required", "example")
_SHIPPED_PARTS: Final = frozenset(p.value for p in TemplatePart)

#: The template parts each shipped channel needs: one body, or the email's subject, text
#: and HTML. A declared channel needs one body named by its kind (:func:`channel_parts`).
CHANNEL_PARTS: Final[Mapping[Channel, tuple[TemplatePart, ...]]] = {
    c: TemplatePart.parts_of(c) for c in Channel
}


def channel_parts(channel: Channel) -> tuple[TemplatePart, ...]:
    """The template parts a message on ``channel`` is rendered from (any channel kind)."""
    return TemplatePart.parts_of(channel)


@dataclass(frozen=True, slots=True)
class EventTables:
    """One source of declared events: a configuration's ``[events]``, or an events file.

    :ivar tables: event name to its declaration (plain TOML values).
    :ivar where: the dotted path of ``tables`` in their document (``events``,
        ``tenants.T.events``), or ``""`` for an events file (one table per event).
    :ivar file: the events file, named in messages; ``None`` for the configuration.
    """

    tables: Mapping[str, Any]
    where: str = "events"
    file: str | None = None

    def path(self, *keys: str) -> str:
        """The dotted path of a field, e.g. ``events.doorcode_changed.templates.sms``."""
        return ".".join((self.where, *keys) if self.where else keys)


@dataclass(frozen=True, slots=True)
class DeclaredEvents:
    """Every event the configuration declares, in layers, as the settings hold them.

    :ivar shared: events every tenant has: the events files, then ``[events.NAME]``.
    :ivar tenants: per tenant, its own files, then ``[tenants.T.events.NAME]``.
    :ivar channels: the channel kinds relaykit does not ship that the configuration's
        routes use: a declaration may give a template (the body) for each of them.
    """

    shared: tuple[EventTables, ...] = ()
    tenants: Mapping[str, tuple[EventTables, ...]] = field(default_factory=dict)
    channels: frozenset[Channel] = frozenset()


Keys = tuple[str, ...]

#: What a declaration with its own ``variables`` inherits templates from: nothing.
_NOTHING: Final = DefaultTemplates(events={}, templates={})


class _Source:
    """Reads one :class:`EventTables`; its errors name the field's path and the fix."""

    def __init__(self, tables: EventTables, channels: frozenset[Channel] = frozenset()) -> None:
        self.tables = tables
        self.channels = channels

    def fail(self, keys: Keys, message: str) -> TemplateError:
        file = f"{self.tables.file}: " if self.tables.file else ""
        return TemplateError(f"{file}{self.tables.path(*keys)}: {message}")

    def text(self, value: object, keys: Keys, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str) or (not value and not allow_empty):
            raise self.fail(keys, "must be non-empty text (a quoted TOML string)")
        return value

    def table(self, value: object, keys: Keys, allowed: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(keys, f"must be a table, e.g. [{self.tables.path(*keys)}]")
        for key in value:
            if allowed and key not in allowed:
                raise self.fail((*keys, key), f"unknown key; use {', '.join(allowed)}")
        return value

    def variable(self, name: str, raw: object, keys: Keys) -> Variable:
        if not _VARIABLE_NAME.fullmatch(name):
            raise self.fail(
                keys, "a variable name is letters, digits and _, not starting with a digit"
            )
        table = self.table(raw, keys, _VARIABLE_KEYS)
        required = table.get("required", True)
        if not isinstance(required, bool):
            raise self.fail((*keys, "required"), "must be true or false")
        example = table.get("example", "")
        if not isinstance(example, str):
            raise self.fail((*keys, "example"), 'must be text (quote numbers: example = "4821")')
        description = self.text(table.get("description"), (*keys, "description"))
        return Variable(name, description, required, example)

    def part(self, name: str, keys: Keys) -> TemplatePart:
        """A template key as a part: a shipped part, or the body of a channel a route uses."""
        if name in _SHIPPED_PARTS or name in self.channels:
            return TemplatePart(name)
        shipped = ", ".join(p.value for p in TemplatePart)
        raise self.fail(
            (*keys, name),
            f"unknown key; use {shipped}, or the kind of a channel a route uses "
            f"(routes use {', '.join(sorted(self.channels)) or 'no other channel'})",
        )

    def compiled(self, source: str, spec: EventSpec, part: TemplatePart) -> CompiledTemplate:
        keys = (spec.name, "templates", part.value)
        try:
            compiled = compile_template(source, spec, part, allow_undeclared=True)
        except TemplateError as exc:
            raise self.fail(keys, str(exc)) from None
        if compiled.undeclared_variables:
            name = sorted(compiled.undeclared_variables)[0]
            raise self.fail(
                keys,
                f"the template uses variable {name!r}, which the event does not "
                f"declare: declare it under [{self.tables.path(spec.name, 'variables', name)}] "
                f"(with a description) or remove {{{{{name}}}}} from the template",
            )
        return compiled

    def event(
        self, name: str, raw: object, beneath: DefaultTemplates
    ) -> tuple[EventSpec, dict[TemplatePart, CompiledTemplate]]:
        keys: Keys = (name,)
        if not _EVENT_NAME.fullmatch(name):
            raise self.fail(keys, "an event name is lower_snake_case, e.g. doorcode_changed")
        table = self.table(raw, keys, _EVENT_KEYS)
        old = beneath.events.get(name)
        if "variables" in table:
            variables = self.table(table["variables"], (name, "variables"))
            declared = tuple(
                self.variable(k, v, (name, "variables", k)) for k, v in variables.items()
            )
        elif old is not None:
            declared = old.variables
        else:
            raise self.fail((name, "variables"), "a new event declares its variables ({} for none)")
        if "title" in table or old is None:
            title = self.text(table.get("title"), (name, "title"))
        else:
            title = old.title
        if "description" in table:
            description = self.text(table["description"], (name, "description"), allow_empty=True)
        else:
            description = old.description if old else ""
        spec = EventSpec(name, title, description, declared)
        inherit = beneath if "variables" not in table else _NOTHING
        return spec, self.templates(spec, table.get("templates", {}), inherit)

    def provider_templates(
        self,
        spec: EventSpec,
        raw: object,
        beneath: DefaultTemplates,
        compiled: Mapping[TemplatePart, CompiledTemplate],
    ) -> dict[Channel, ProviderTemplateSpec]:
        """The event's provider templates: those given, over those kept from ``beneath``."""
        table = raw if isinstance(raw, dict) else {}
        inherit = beneath if "variables" not in table else _NOTHING
        kept = {
            channel: t
            for (event, channel), t in inherit.provider_templates.items()
            if event == spec.name
        }
        if "provider_templates" not in table:
            return kept
        given = parse_provider_templates(
            spec,
            table["provider_templates"],
            lambda keys, message: self.fail(keys, message),
            has_template=lambda c: all(p in compiled for p in CHANNEL_PARTS[c]),
        )
        return {**kept, **given}

    def templates(
        self, spec: EventSpec, raw: object, beneath: DefaultTemplates
    ) -> dict[TemplatePart, CompiledTemplate]:
        keys = (spec.name, "templates")
        table = self.table(raw, keys)
        given = {self.part(k, keys): self.text(v, (*keys, k)) for k, v in table.items()}
        kept = {
            part: t.source
            for (event, part), t in beneath.templates.items()
            if event == spec.name and part not in given
        }
        if not given and not kept:
            raise self.fail(
                keys,
                "give the templates of at least one channel: sms, whatsapp, "
                "email_subject + email_text + email_html, or a declared channel's body "
                "named by its kind (e.g. pager)",
            )
        sources = {**kept, **given}
        email = CHANNEL_PARTS[Channel.EMAIL]
        missing = [p.value for p in email if p not in sources]
        if 0 < len(missing) < len(email):
            raise self.fail(
                keys,
                f"email needs email_subject, email_text and email_html; add {', '.join(missing)}",
            )
        return {part: self.compiled(source, spec, part) for part, source in sources.items()}


def declare_events(
    beneath: DefaultTemplates, declared: EventTables, channels: frozenset[Channel] = frozenset()
) -> DefaultTemplates:
    """``beneath`` with the ``declared`` events added, or replacing those of the same name.

    :param channels: the channel kinds not shipped whose bodies a declaration may give
        (:attr:`DeclaredEvents.channels`).

    :raises TemplateError: a declaration is malformed, or a template (given or
        kept) uses a variable the event does not declare; names the field and the fix.
    """
    if not declared.tables:
        return beneath
    source = _Source(declared, channels)
    events = dict(beneath.events)
    templates = {k: v for k, v in beneath.templates.items() if k[0] not in declared.tables}
    providers = {k: v for k, v in beneath.provider_templates.items() if k[0] not in declared.tables}
    for name, raw in declared.tables.items():
        spec, compiled = source.event(name, raw, beneath)
        events[name] = spec
        templates.update({(name, part): t for part, t in compiled.items()})
        chosen = source.provider_templates(spec, raw, beneath, compiled)
        providers.update({(name, channel): t for channel, t in chosen.items()})
    return DefaultTemplates(events=events, templates=templates, provider_templates=providers)


def declare_layers(
    beneath: DefaultTemplates,
    layers: tuple[EventTables, ...],
    channels: frozenset[Channel] = frozenset(),
) -> DefaultTemplates:
    """``beneath`` with each layer declared over the previous ones, in order."""
    for layer in layers:
        beneath = declare_events(beneath, layer, channels)
    return beneath


def missing_channels(layer: DefaultTemplates, event: str, channels: set[Channel]) -> list[Channel]:
    """Which of ``channels`` the event has no templates for: shipped ones in channel order,
    then declared ones by name."""
    ordered = [c for c in Channel if c in channels]
    ordered += sorted(c for c in channels if not c.is_well_known)
    return [c for c in ordered if any((event, p) not in layer.templates for p in channel_parts(c))]
