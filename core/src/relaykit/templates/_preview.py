"""Preview: render with test values and say what a real send would make of it.

Unlike a real render, a preview never fails for missing data: a missing value
shows as a visible ``[name]`` placeholder and becomes a warning.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from relaykit.sms import MAX_BODY_CHARACTERS, SmsEncoding, count_segments
from relaykit.templates._compile import CompiledTemplate, Scalar
from relaykit.templates._headers import header_problem
from relaykit.templates._model import TemplatePart

__all__ = ["DEFAULT_MAX_LENGTH", "Preview", "PreviewWarning", "WarningKind", "build_preview"]

#: The longest SMS body sent as SMS unless the tenant says otherwise (SS&E's
#: ``smsMaxLength``); a longer one goes by email.
DEFAULT_MAX_LENGTH = 1000

TemplateOrigin = Literal["default", "override", "draft"]


class WarningKind(enum.StrEnum):
    """Why a preview is not what a real send would be, or would not be sent as is."""

    UNDECLARED_VARIABLE = "undeclared_variable"
    MISSING_VARIABLE = "missing_variable"
    TOO_LONG = "too_long"
    OVER_PROVIDER_MAXIMUM = "over_provider_maximum"
    SUBJECT_NOT_ONE_LINE = "subject_not_one_line"


@dataclass(frozen=True, slots=True)
class PreviewWarning:
    """One thing a preview found; ``variable`` is set for the variable warnings."""

    kind: WarningKind
    message: str
    variable: str | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    """A template rendered with test values.

    :ivar text: the rendered text; missing values show as ``[name]``.
    :ivar characters: length of ``text`` in characters.
    :ivar segments: SMS segments billed, for the SMS and WhatsApp parts (else ``None``).
    :ivar encoding: ``"GSM-7"`` or ``"UCS-2"``, for the SMS and WhatsApp parts.
    :ivar origin: which template was rendered: the shipped ``default``, the
        tenant's ``override``, or a ``draft`` source not saved yet.
    """

    event: str
    part: TemplatePart
    text: str
    characters: int
    segments: int | None
    encoding: SmsEncoding | None
    warnings: tuple[PreviewWarning, ...]
    origin: TemplateOrigin

    def warning_kinds(self) -> frozenset[WarningKind]:
        """The kinds of the warnings, for quick checks."""
        return frozenset(w.kind for w in self.warnings)


def placeholder(name: str) -> str:
    """How a variable without a test value shows in a preview."""
    return f"[{name}]"


def _context(
    template: CompiledTemplate, data: Mapping[str, object]
) -> tuple[dict[str, Scalar], list[PreviewWarning]]:
    event = template.event
    context: dict[str, Scalar] = {}
    warnings: list[PreviewWarning] = []
    for variable in event.variables:
        value = data.get(variable.name)
        if value is not None:
            context[variable.name] = template.checked_value(variable.name, value)
        elif variable.required:
            context[variable.name] = placeholder(variable.name)
            warnings.append(
                PreviewWarning(
                    WarningKind.MISSING_VARIABLE,
                    f"required variable {variable.name!r} has no test value; "
                    f"a real send of {event.name!r} without it fails",
                    variable.name,
                )
            )
        else:
            context[variable.name] = ""
            if variable.name in template.used_variables:
                warnings.append(
                    PreviewWarning(
                        WarningKind.MISSING_VARIABLE,
                        f"optional variable {variable.name!r} has no test value; "
                        "it renders as empty, as in a real send",
                        variable.name,
                    )
                )
    for name in sorted(template.undeclared_variables):
        value = data.get(name)
        context[name] = placeholder(name) if value is None else template.checked_value(name, value)
        warnings.append(
            PreviewWarning(
                WarningKind.UNDECLARED_VARIABLE,
                f"variable {name!r} is not declared by event {event.name!r}; "
                "the template cannot be saved while it uses it",
                name,
            )
        )
    return context, warnings


def build_preview(
    template: CompiledTemplate,
    data: Mapping[str, object],
    *,
    origin: TemplateOrigin,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> Preview:
    """Render ``template`` with test ``data`` and collect the warnings."""
    context, warnings = _context(template, data)
    text = template.render_context(context)
    segments: int | None = None
    encoding: SmsEncoding | None = None
    if template.part.is_text_message:
        count = count_segments(text)
        segments, encoding = count.segments, count.encoding
        if len(text) > max_length:
            warnings.append(
                PreviewWarning(
                    WarningKind.TOO_LONG,
                    f"{len(text)} characters is over the maximum of {max_length}; "
                    "a body this long goes by email instead",
                )
            )
        if count.over_maximum:
            warnings.append(
                PreviewWarning(
                    WarningKind.OVER_PROVIDER_MAXIMUM,
                    f"{len(text)} characters is over the provider's limit of {MAX_BODY_CHARACTERS}",
                )
            )
    if template.part == TemplatePart.EMAIL_SUBJECT:
        problem = header_problem(text)
        if problem:
            warnings.append(
                PreviewWarning(
                    WarningKind.SUBJECT_NOT_ONE_LINE,
                    f"the rendered subject {problem}; a real send refuses it",
                )
            )
    return Preview(
        event=template.event.name,
        part=template.part,
        text=text,
        characters=len(text),
        segments=segments,
        encoding=encoding,
        warnings=tuple(warnings),
        origin=origin,
    )
