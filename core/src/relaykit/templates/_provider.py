"""Provider-side templates: a template approved at the provider, named by an event per channel.

WhatsApp delivers a free-form message only within 24 hours of the person's
last message; outside that window only an approved template goes through.
An event names its template per channel::

    [events.absence.provider_templates.whatsapp]
    content_sid = "HX0123456789abcdef0123456789abcdef"   # Twilio's Content SID
    variables = { "1" = "student_name", "2" = "date" }   # template key = event variable

Rendering gives a :class:`relaykit.results.ProviderTemplate` whose variables
hold the event data's text; the router sends it when the session message
failed because the window was closed (see docs/whatsapp.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from relaykit.results import Channel, ProviderTemplate
from relaykit.templates._model import EventSpec, TemplateError

__all__ = ["PROVIDER_TEMPLATE_CHANNELS", "ProviderTemplateSpec", "parse_provider_templates"]

#: The channels whose events may name a provider template.
PROVIDER_TEMPLATE_CHANNELS: Final = (Channel.WHATSAPP,)
_CONTENT_SID: Final = re.compile(r"^HX[0-9a-f]{32}$")
_KEY: Final = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_KEYS: Final = ("content_sid", "variables")

#: ``fail(keys, message)``: the error for the field at ``keys`` below the event's table.
Fail = Callable[[tuple[str, ...], str], TemplateError]


@dataclass(frozen=True, slots=True)
class ProviderTemplateSpec:
    """An event's template at the provider for one channel, as configured.

    :ivar content_sid: the provider's id of the approved template (Twilio: ``HX…``).
    :ivar variables: the template's variable key (``"1"``) to the event variable
        whose value fills it.
    """

    content_sid: str
    variables: Mapping[str, str]

    def render(self, spec: EventSpec, data: Mapping[str, object]) -> ProviderTemplate:
        """The template with its variables filled from ``data``.

        A missing optional variable is left out, so the provider uses the
        template's own default for it.

        :raises MissingVariableError: a required variable is missing.
        :raises TemplateError: a value is not text or a number.
        """
        values = spec.checked_data(data)
        rendered = {key: _text(values[name]) for key, name in self.variables.items()}
        return ProviderTemplate(self.content_sid, {k: v for k, v in rendered.items() if v})


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_provider_templates(
    spec: EventSpec, raw: object, fail: Fail, *, has_template: Callable[[Channel], bool]
) -> dict[Channel, ProviderTemplateSpec]:
    """``[events.NAME.provider_templates]``: per channel, a Content SID and its variable map.

    :param has_template: whether the event has its own template for a channel
        (the session message, tried first).
    :raises TemplateError: naming the field and the fix.
    """
    keys: tuple[str, ...] = (spec.name, "provider_templates")
    if not isinstance(raw, dict):
        raise fail(keys, "must be a table, e.g. [events.NAME.provider_templates.whatsapp]")
    names = ", ".join(c.value for c in PROVIDER_TEMPLATE_CHANNELS)
    found: dict[Channel, ProviderTemplateSpec] = {}
    for channel_name, table in raw.items():
        where = (*keys, channel_name)
        channel = next((c for c in PROVIDER_TEMPLATE_CHANNELS if c.value == channel_name), None)
        if channel is None:
            raise fail(where, f"only {names} has provider templates; remove this table")
        if not has_template(channel):
            raise fail(
                where,
                f"the approved template is sent when the {channel.value} session message "
                f"failed: give the event's own templates.{channel.value} too",
            )
        found[channel] = _one(spec, table, where, fail)
    return found


def _one(
    spec: EventSpec, table: object, where: tuple[str, ...], fail: Fail
) -> ProviderTemplateSpec:
    if not isinstance(table, dict):
        raise fail(where, 'must be a table with content_sid = "HX…" and variables = {…}')
    for key in table:
        if key not in _KEYS:
            raise fail((*where, key), f"unknown key; use {', '.join(_KEYS)}")
    sid: Any = table.get("content_sid")
    if not isinstance(sid, str) or not _CONTENT_SID.match(sid):
        raise fail(
            (*where, "content_sid"),
            "must be the approved template's Content SID: HX and 32 lower-case hex digits "
            '(e.g. "HX0123456789abcdef0123456789abcdef"; Twilio Console, Content Template '
            "Builder)",
        )
    variables: Any = table.get("variables", {})
    if not isinstance(variables, dict):
        raise fail((*where, "variables"), 'must be a table, e.g. { "1" = "student_name" }')
    declared = spec.variable_names
    for key, name in variables.items():
        if not _KEY.match(key):
            raise fail((*where, "variables", key), "a template variable key is letters/digits/_")
        if not isinstance(name, str) or name not in declared:
            raise fail(
                (*where, "variables", key),
                f"names {name!r}, which the event does not declare; map one of its "
                f"variables ({', '.join(sorted(declared)) or 'none declared'}) or declare "
                f"{name!r} under the event's variables",
            )
    return ProviderTemplateSpec(sid, dict(variables))
