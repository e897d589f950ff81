"""The vocabulary of templates: parts, declared variables, events, errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from relaykit._kinds import Kind
from relaykit.errors import RelaykitError
from relaykit.results import Channel

__all__ = [
    "EventSpec",
    "MissingVariableError",
    "Scalar",
    "TemplateError",
    "TemplatePart",
    "UnknownEventError",
    "Variable",
    "checked_value",
]

#: The values a template variable may hold. Dates and amounts are formatted by the
#: platform (in the tenant's time zone and language) before they reach a template.
Scalar = str | int | float | bool


class TemplatePart(Kind):
    """One editable text of an event's message: a body, or a piece of the email.

    The well-known parts are ``sms``, ``whatsapp`` and the email's
    ``email_subject``, ``email_text`` and ``email_html``. A channel relaykit
    does not ship has one part, its body, named by its channel kind
    (``TemplatePart("pager")``); ``email_`` is kept for the email's parts.
    """

    __slots__ = ()
    what: ClassVar[str] = "template part"

    SMS: ClassVar[TemplatePart]
    WHATSAPP: ClassVar[TemplatePart]
    EMAIL_SUBJECT: ClassVar[TemplatePart]
    EMAIL_TEXT: ClassVar[TemplatePart]
    EMAIL_HTML: ClassVar[TemplatePart]

    @classmethod
    def _problem(cls, value: object) -> str | None:
        problem = super()._problem(value)
        if problem is None and isinstance(value, str) and value.startswith("email"):
            return (
                f"unknown template part {value!r}: email's parts are email_subject, "
                "email_text and email_html"
            )
        return problem

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The shipped parts, as the API has always published them."""
        return {
            "title": cls.__name__,
            "description": (
                "One editable text of an event's message: a body, or a piece of the email."
            ),
            "type": "string",
            "enum": [p.value for p in cls],
        }

    @classmethod
    def parts_of(cls, channel: Channel) -> tuple[TemplatePart, ...]:
        """The parts a message on ``channel`` is rendered from: its body, or the email's three."""
        if channel == Channel.EMAIL:
            return (cls.EMAIL_SUBJECT, cls.EMAIL_TEXT, cls.EMAIL_HTML)
        return (cls(channel.value),)

    @property
    def channel(self) -> Channel:
        """The channel this part is sent on."""
        if self.value.startswith("email_"):
            return Channel.EMAIL
        return Channel(self.value)

    @property
    def escapes_html(self) -> bool:
        """True only for the HTML email part: everywhere else ``&`` stays ``&`` (PITFALLS 16)."""
        return self == TemplatePart.EMAIL_HTML

    @property
    def is_text_message(self) -> bool:
        """True for the parts billed in SMS segments (SMS and WhatsApp bodies)."""
        return self in (TemplatePart.SMS, TemplatePart.WHATSAPP)

    @property
    def is_body(self) -> bool:
        """True for a one-part channel's body (SMS, WhatsApp, a declared channel's)."""
        return not self.value.startswith("email_")


TemplatePart.SMS = TemplatePart._define("sms")
TemplatePart.WHATSAPP = TemplatePart._define("whatsapp")
TemplatePart.EMAIL_SUBJECT = TemplatePart._define("email_subject")
TemplatePart.EMAIL_TEXT = TemplatePart._define("email_text")
TemplatePart.EMAIL_HTML = TemplatePart._define("email_html")


@dataclass(frozen=True, slots=True)
class Variable:
    """A value an event's templates may use.

    :ivar required: a required variable must be in the data of every real send;
        an optional one may be left out, and then renders as empty (so
        ``{{#x}}…{{/x}}`` hides and ``{{^x}}…{{/x}}`` shows).
    :ivar example: a realistic value, used as the preview's default test value.
    """

    name: str
    description: str
    required: bool = True
    example: str = ""


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event a platform notifies about, and the variables its templates may use."""

    name: str
    title: str
    description: str
    variables: tuple[Variable, ...]

    @property
    def variable_names(self) -> frozenset[str]:
        """The declared variables' names."""
        return frozenset(v.name for v in self.variables)

    def example_data(self) -> dict[str, str]:
        """Each variable's example value, keyed by name: test values for a preview."""
        return {v.name: v.example for v in self.variables}

    def checked_data(
        self, data: Mapping[str, object], part: TemplatePart | None = None
    ) -> dict[str, Scalar]:
        """The declared variables' values for a real send; a missing optional one is empty text.

        :raises MissingVariableError: a required variable is missing (or ``None``).
        :raises TemplateError: a value is not text, a number or a boolean.
        """
        values: dict[str, Scalar] = {}
        for variable in self.variables:
            value = data.get(variable.name)
            if value is not None:
                values[variable.name] = checked_value(self.name, variable.name, value, part)
            elif variable.required:
                raise MissingVariableError(
                    f"variable {variable.name!r} is required by event "
                    f"{self.name!r} but missing from the data",
                    event=self.name,
                    part=part,
                    variable=variable.name,
                )
            else:
                values[variable.name] = ""
        return values


def checked_value(event: str, name: str, value: object, part: TemplatePart | None = None) -> Scalar:
    """``value`` when a template may show it; otherwise a :class:`TemplateError`."""
    if isinstance(value, str | int | float | bool):
        return value
    raise TemplateError(
        f"variable {name!r} is a {type(value).__name__}; pass text or a number "
        "(format dates and amounts before rendering)",
        event=event,
        part=part,
        variable=name,
    )


class TemplateError(RelaykitError):
    """A template cannot be used, or cannot be rendered with the data given.

    The message names the event, the part and, where there is one, the variable.
    """

    def __init__(
        self,
        message: str,
        *,
        event: str = "",
        part: TemplatePart | None = None,
        variable: str | None = None,
        tenant: str | None = None,
    ) -> None:
        where = "/".join(x for x in (tenant, event, part.value if part else "") if x)
        super().__init__(f"{where}: {message}" if where else message)
        self.event = event
        self.part = part
        self.variable = variable
        self.tenant = tenant


class MissingVariableError(TemplateError):
    """The data for a real send lacks a variable the event requires or the template uses."""


class UnknownEventError(TemplateError, KeyError):
    """No event of that name has templates."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
