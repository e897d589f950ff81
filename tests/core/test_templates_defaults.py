"""The shipped defaults: complete, consistent with their declared variables, cheap to send."""

from __future__ import annotations

import re

import pytest

from relaykit.sms import count_segments
from relaykit.templates import (
    EventSpec,
    TemplateCatalog,
    TemplateError,
    TemplatePart,
    default_templates,
    parse_defaults,
)

EVENTS = (
    "key_is_ready",
    "doorcode_changed",
    "attendance_absence",
    "emergency_alert",
    "otp",
    "staff_reply",
)
CATALOG = TemplateCatalog()
ALL = [(e, p) for e in EVENTS for p in TemplatePart]
TEXT_MESSAGES = [(e, p) for e in EVENTS for p in (TemplatePart.SMS, TemplatePart.WHATSAPP)]


def _id(case: tuple[str, TemplatePart]) -> str:
    return f"{case[0]}-{case[1].value}"


def _required_only(event: EventSpec) -> dict[str, str]:
    return {v.name: v.example for v in event.variables if v.required}


def test_the_six_events_are_shipped() -> None:
    assert [e.name for e in CATALOG.events()] == list(EVENTS)


@pytest.mark.parametrize("event", EVENTS)
def test_every_event_describes_itself_and_each_variable(event: str) -> None:
    spec = CATALOG.event(event)

    assert spec.title and spec.description
    assert spec.variables
    for variable in spec.variables:
        assert variable.description, variable.name
        assert variable.example, variable.name


@pytest.mark.parametrize("case", ALL, ids=_id)
def test_every_part_uses_only_declared_variables(case: tuple[str, TemplatePart]) -> None:
    template = default_templates().templates[case]

    assert template.source.strip()
    assert template.used_variables <= template.event.variable_names
    assert not template.undeclared_variables


@pytest.mark.parametrize("event", EVENTS)
def test_every_declared_variable_is_used_somewhere(event: str) -> None:
    used = set().union(
        *(default_templates().templates[event, p].used_variables for p in TemplatePart)
    )

    assert used == CATALOG.event(event).variable_names


@pytest.mark.parametrize("case", ALL, ids=_id)
def test_every_part_renders_with_the_examples(case: tuple[str, TemplatePart]) -> None:
    event, part = case
    text = CATALOG.render(None, event, part, CATALOG.event(event).example_data())

    assert text.strip()
    assert "{{" not in text and "}}" not in text
    for variable in CATALOG.event(event).variables:
        if variable.name in default_templates().templates[case].used_variables:
            shown = (
                variable.example.replace("'", "&#x27;") if part.escapes_html else variable.example
            )
            assert shown in text, variable.name


@pytest.mark.parametrize("case", ALL, ids=_id)
def test_every_part_reads_well_with_only_required_variables(
    case: tuple[str, TemplatePart],
) -> None:
    event, part = case
    text = CATALOG.render(None, event, part, _required_only(CATALOG.event(event)))

    assert not re.search(r"[^\n ] {2,}[^ ]", text), text  # no gap where a value was left out
    assert " ." not in text and " ," not in text and "()" not in text, text
    assert "\n\n\n" not in text, text


@pytest.mark.parametrize("case", TEXT_MESSAGES, ids=_id)
def test_text_message_bodies_stay_gsm7(case: tuple[str, TemplatePart]) -> None:
    # A single curly quote or dash in a default would bill every message at 70 characters.
    event, part = case
    text = CATALOG.render(None, event, part, CATALOG.event(event).example_data())

    assert count_segments(text).encoding == "GSM-7"


@pytest.mark.parametrize("event", ["doorcode_changed", "attendance_absence", "otp"])
def test_short_notices_fit_one_segment(event: str) -> None:
    text = CATALOG.render(None, event, "sms", CATALOG.event(event).example_data())

    assert count_segments(text).segments == 1


_MINIMAL = """
[otp]
title = "One-time passcode"
description = "A code."
[otp.variables.code]
description = "The code."
[otp.templates]
sms = "{{code}}"
whatsapp = "{{code}}"
email_subject = "Code"
email_text = "{{code}}"
email_html = "<p>{{code}}</p>"
"""


def test_a_defaults_document_with_all_parts_loads() -> None:
    loaded = parse_defaults(_MINIMAL)

    assert loaded.templates["otp", TemplatePart.SMS].render({"code": "1"}) == "1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('email_html = "<p>{{code}}</p>"\n', ""), r"missing \['email_html'\]"),
        (('sms = "{{code}}"', 'sms = "{{pin}}"'), "unknown variable 'pin'"),
        (('sms = "{{code}}"', 'sms = "{{> code}}"'), "partials are disabled"),
        (('description = "The code."', 'description = "The code."\nfoo = 1'), "must be a table"),
        (('title = "One-time passcode"\n', ""), "otp.title must be non-empty text"),
    ],
    ids=["missing-part", "undeclared-variable", "partial", "unknown-key", "missing-title"],
)
def test_a_broken_defaults_document_fails_loudly(change: tuple[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_defaults(_MINIMAL.replace(*change))
