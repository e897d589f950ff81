"""The shipped default templates: ``defaults.toml`` in this package, read and compiled once."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Final

from relaykit.results import Channel
from relaykit.templates._compile import CompiledTemplate, compile_template
from relaykit.templates._model import EventSpec, TemplateError, TemplatePart, Variable
from relaykit.templates._provider import ProviderTemplateSpec

__all__ = ["DefaultTemplates", "default_templates", "parse_defaults"]

_EVENT_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
_VARIABLE_KEYS: Final = frozenset({"description", "required", "example"})
_EVENT_KEYS: Final = frozenset({"title", "description", "variables", "templates"})


@dataclass(frozen=True, slots=True)
class DefaultTemplates:
    """Every shipped event with its compiled default template for each part.

    :ivar provider_templates: per event and channel, the template approved at the
        provider (only declared events name one; none is shipped).
    """

    events: Mapping[str, EventSpec]
    templates: Mapping[tuple[str, TemplatePart], CompiledTemplate]
    provider_templates: Mapping[tuple[str, Channel], ProviderTemplateSpec] = field(
        default_factory=dict
    )


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise TemplateError(f"{where}.{key} must be non-empty text")
    return value


def _variable(event: str, name: str, table: Any) -> Variable:
    where = f"{event}.variables.{name}"
    if not isinstance(table, dict) or not _VARIABLE_KEYS.issuperset(table):
        raise TemplateError(f"{where} must be a table of {', '.join(sorted(_VARIABLE_KEYS))}")
    required = table.get("required", True)
    example = table.get("example", "")
    if not isinstance(required, bool) or not isinstance(example, str):
        raise TemplateError(f"{where}: required must be true/false and example text")
    return Variable(name, _text(table, "description", where), required, example)


def _event(name: str, table: Any) -> tuple[EventSpec, dict[TemplatePart, str]]:
    if not _EVENT_NAME.fullmatch(name) or not isinstance(table, dict):
        raise TemplateError(f"[{name}] must be a table named in lower_snake_case")
    unknown = set(table) - _EVENT_KEYS
    if unknown:
        raise TemplateError(f"[{name}] has unknown keys {sorted(unknown)}")
    variables = table.get("variables", {})
    sources = table.get("templates", {})
    if not isinstance(variables, dict) or not isinstance(sources, dict):
        raise TemplateError(f"[{name}] variables and templates must be tables")
    spec = EventSpec(
        name=name,
        title=_text(table, "title", name),
        description=_text(table, "description", name),
        variables=tuple(_variable(name, key, value) for key, value in variables.items()),
    )
    parts = {p.value for p in TemplatePart}
    if set(sources) != parts:
        missing, extra = parts - set(sources), set(sources) - parts
        raise TemplateError(
            f"[{name}.templates] must have exactly the parts {sorted(parts)}; "
            f"missing {sorted(missing)}, unknown {sorted(extra)}"
        )
    return spec, {TemplatePart(p): _text(sources, p, f"{name}.templates") for p in sources}


def parse_defaults(text: str) -> DefaultTemplates:
    """Read and compile a defaults document (the format of ``defaults.toml``).

    :raises TemplateError: the document is malformed, an event lacks a part, or
        a template uses an undeclared variable or a partial.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"default templates are not valid TOML: {exc}") from None
    events: dict[str, EventSpec] = {}
    templates: dict[tuple[str, TemplatePart], CompiledTemplate] = {}
    for name, table in document.items():
        spec, sources = _event(name, table)
        events[name] = spec
        for part, source in sources.items():
            templates[name, part] = compile_template(source, spec, part)
    return DefaultTemplates(events=events, templates=templates)


@functools.cache
def default_templates() -> DefaultTemplates:
    """relaykit's shipped defaults, parsed on first use and shared afterwards."""
    text = files("relaykit.templates").joinpath("defaults.toml").read_text(encoding="utf-8")
    return parse_defaults(text)
