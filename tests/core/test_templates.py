"""Rendering: sections, escaping per part, strict variables, no partials, one-line subjects."""

from __future__ import annotations

import builtins
import dataclasses
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pystache  # type: ignore[import-untyped]
import pytest

from relaykit import RelaykitError
from relaykit.results import Channel
from relaykit.templates import (
    CompiledTemplate,
    InMemoryTemplateOverrides,
    MissingVariableError,
    TemplateCatalog,
    TemplateError,
    TemplatePart,
    _compile,
    compile_template,
)

KEY_READY = {"property_name": "Harbour View", "guest_name": "Alex", "door_code": "482913"}
OTP = {"code": "804251", "expires_minutes": 10, "service_name": "North High Portal"}
REPLY = {
    "staff_name": "Ms. Okafor",
    "reply_from": "Tom & Jerry",
    "reply_body": 'Is <b>5 > 3</b> & "ok"?',
    "institution_name": "North High",
}


@pytest.fixture
def catalog() -> TemplateCatalog:
    return TemplateCatalog(InMemoryTemplateOverrides())


# -- sections -------------------------------------------------------------------


def test_section_shows_its_content_only_when_the_value_is_present(
    catalog: TemplateCatalog,
) -> None:
    with_code = catalog.render(None, "key_is_ready", "sms", KEY_READY)
    without_code = catalog.render(None, "key_is_ready", "sms", {**KEY_READY, "door_code": None})

    assert "Door code: 482913." in with_code
    assert "Door code" not in without_code


def test_inverted_section_is_the_fallback_when_the_value_is_missing(
    catalog: TemplateCatalog,
) -> None:
    named = catalog.render(None, "key_is_ready", "sms", KEY_READY)
    anonymous = catalog.render(None, "key_is_ready", "sms", {"property_name": "Harbour View"})

    assert named.startswith("Hi Alex, your key for Harbour View is ready.")
    assert anonymous == "Hello, your key for Harbour View is ready."


def test_empty_string_counts_as_no_value_for_sections(catalog: TemplateCatalog) -> None:
    text = catalog.render(None, "key_is_ready", "sms", {**KEY_READY, "guest_name": ""})

    assert text.startswith("Hello, your key")


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ("{{#guest_name}}Dear {{.}}{{/guest_name}}", {"guest_name": "Ann"}, "Dear Ann"),
        ("{{#door_code}}{{door_code}}{{/door_code}}{{^door_code}}none{{/door_code}}", {}, "none"),
        ("{{#start_date}}{{#end_date}}{{start_date}}-{{end_date}}{{/end_date}}{{/start_date}}",
         {"start_date": "1 May", "end_date": "3 May"}, "1 May-3 May"),
        ("{{#start_date}}{{#end_date}}{{start_date}}-{{end_date}}{{/end_date}}{{/start_date}}",
         {"start_date": "1 May"}, ""),
        ("{{! a comment }}Key for {{property_name}}", {}, "Key for Harbour View"),
    ],
    ids=["implicit-iterator", "inverted-fallback", "nested-both", "nested-one-missing", "comment"],
)  # fmt: skip
def test_sections_in_a_tenant_template(
    catalog: TemplateCatalog, source: str, data: dict[str, str], expected: str
) -> None:
    catalog.set_override("north", "key_is_ready", "sms", source)

    assert (
        catalog.render("north", "key_is_ready", "sms", {"property_name": "Harbour View", **data})
        == expected
    )


# -- PITFALLS 16: HTML escaping only in the HTML email ---------------------------


@pytest.mark.parametrize(
    "part",
    [TemplatePart.SMS, TemplatePart.WHATSAPP, TemplatePart.EMAIL_SUBJECT, TemplatePart.EMAIL_TEXT],
)
def test_pitfall_16_text_parts_are_not_html_escaped(
    catalog: TemplateCatalog, part: TemplatePart
) -> None:
    text = catalog.render(None, "staff_reply", part, REPLY)

    assert "Tom & Jerry" in text
    assert "&amp;" not in text


def test_pitfall_16_sms_body_keeps_every_html_special_character(catalog: TemplateCatalog) -> None:
    text = catalog.render(None, "staff_reply", "sms", REPLY)

    assert text == 'New reply from Tom & Jerry: Is <b>5 > 3</b> & "ok"?'


def test_pitfall_16_html_email_escapes_values(catalog: TemplateCatalog) -> None:
    html = catalog.render(None, "staff_reply", "email_html", REPLY)

    assert "<strong>Tom &amp; Jerry</strong>" in html
    assert "Is &lt;b&gt;5 &gt; 3&lt;/b&gt; &amp; &quot;ok&quot;?" in html
    assert "<b>" not in html


@pytest.mark.parametrize("tag", ["{{{reply_body}}}", "{{&reply_body}}"])
def test_unescaped_tags_are_refused_in_html_email_only(catalog: TemplateCatalog, tag: str) -> None:
    with pytest.raises(TemplateError, match="not allowed in HTML email"):
        catalog.set_override("north", "staff_reply", "email_html", f"<p>{tag}</p>")

    catalog.set_override("north", "staff_reply", "sms", f"Reply: {tag}")
    assert catalog.render("north", "staff_reply", "sms", REPLY) == 'Reply: Is <b>5 > 3</b> & "ok"?'


def test_render_message_fills_every_field_the_channel_needs(catalog: TemplateCatalog) -> None:
    email = catalog.render_message(None, "staff_reply", Channel.EMAIL, REPLY)
    sms = catalog.render_message(None, "staff_reply", Channel.SMS, REPLY)

    assert email.subject == "New text message reply from Tom & Jerry"
    assert email.body.startswith("Hello Ms. Okafor,\n\nTom & Jerry replied")
    assert email.html_body is not None and "Tom &amp; Jerry" in email.html_body
    assert (sms.subject, sms.html_body) == (None, None)
    assert sms.body.startswith("New reply from Tom & Jerry")


# -- PITFALLS 17: missing variables are errors, never empty text -----------------


def test_pitfall_17_missing_required_variable_names_variable_and_event(
    catalog: TemplateCatalog,
) -> None:
    data = {"school_name": "North High", "absence_date": "12 May"}

    with pytest.raises(MissingVariableError) as caught:
        catalog.render(None, "attendance_absence", "sms", data)

    assert caught.value.variable == "student_name"
    assert caught.value.event == "attendance_absence"
    assert "'student_name'" in str(caught.value) and "'attendance_absence'" in str(caught.value)
    assert isinstance(caught.value, RelaykitError)


def test_pitfall_17_none_counts_as_missing(catalog: TemplateCatalog) -> None:
    with pytest.raises(MissingVariableError, match="'code'"):
        catalog.render(None, "otp", "sms", {**OTP, "code": None})


def test_pitfall_17_required_variable_missing_fails_even_for_a_part_not_using_it(
    catalog: TemplateCatalog,
) -> None:
    # The subject does not show the code, but an otp without a code is a broken notification.
    with pytest.raises(MissingVariableError, match="'code'"):
        catalog.render(None, "otp", "email_subject", {"expires_minutes": 5, "service_name": "X"})


def test_pitfall_17_strict_mode_backs_up_the_declared_check(catalog: TemplateCatalog) -> None:
    # A draft compiled leniently still cannot render a variable nobody supplied.
    draft = compile_template(
        "Room {{room_number}}", catalog.event("key_is_ready"), TemplatePart.SMS,
        allow_undeclared=True,
    )  # fmt: skip

    with pytest.raises(MissingVariableError) as caught:
        draft.render({"property_name": "Harbour View"})

    assert caught.value.variable == "room_number"
    assert pystache.render("Room {{room_number}}", {}) == "Room "  # what strict mode prevents


def test_values_that_are_not_text_or_numbers_are_refused(catalog: TemplateCatalog) -> None:
    data = {"student_name": "Jamie", "school_name": "North High"}

    with pytest.raises(TemplateError, match="'absence_date' is a date; pass text"):
        catalog.render(
            None, "attendance_absence", "sms", {**data, "absence_date": datetime.date(2025, 5, 12)}
        )


def test_numbers_render_as_written(catalog: TemplateCatalog) -> None:
    assert "expires in 10 minutes" in catalog.render(None, "otp", "sms", OTP)


# -- PITFALLS 18: partials are disabled and read no file -------------------------


@pytest.fixture
def secret_beside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real file ``secret.mustache`` next to the working directory's subfolder."""
    secret = tmp_path / "secret.mustache"
    secret.write_text("TOP-SECRET-CONTENT")
    workdir = tmp_path / "templates"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return secret


@pytest.fixture
def opened_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path passed to ``open`` while the test runs."""
    paths: list[str] = []
    real_open: Callable[..., Any] = builtins.open

    def recording_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        paths.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    return paths


def test_pitfall_18_plain_pystache_would_read_the_file(secret_beside: Path) -> None:
    # The hazard this guards against: pystache's default loader reads partials from disk.
    assert "TOP-SECRET-CONTENT" in pystache.Renderer(search_dirs=[".."]).render("{{> secret}}")


@pytest.mark.parametrize("tag", ["{{> ../secret}}", "{{> secret}}", "{{>secret}}"])
def test_pitfall_18_partial_in_an_override_is_refused_and_reads_no_file(
    catalog: TemplateCatalog, secret_beside: Path, opened_paths: list[str], tag: str
) -> None:
    with pytest.raises(TemplateError, match="partials are disabled"):
        catalog.set_override("north", "otp", "sms", f"Code {{{{code}}}} {tag}")

    assert catalog.render("north", "otp", "sms", OTP).startswith("804251 is your")  # default
    assert not [p for p in opened_paths if "secret" in p]


def test_pitfall_18_partial_in_a_preview_draft_is_refused(
    catalog: TemplateCatalog, secret_beside: Path, opened_paths: list[str]
) -> None:
    with pytest.raises(TemplateError, match="partials are disabled"):
        catalog.preview("otp", "sms", OTP, source="{{> ../secret}}")

    assert not [p for p in opened_paths if "secret" in p]


def test_pitfall_18_renderer_itself_loads_no_partial(
    catalog: TemplateCatalog, secret_beside: Path, opened_paths: list[str]
) -> None:
    # Second lock: even a parsed tree that skipped the compile-time check reads nothing.
    sneaked = CompiledTemplate(
        event=catalog.event("otp"),
        part=TemplatePart.SMS,
        source="{{> ../secret}}",
        used_variables=frozenset(),
        undeclared_variables=frozenset(),
        _parsed=pystache.parse("{{> ../secret}}"),
    )

    with pytest.raises(TemplateError, match="partials are disabled"):
        sneaked.render(OTP)
    assert not [p for p in opened_paths if "secret" in p]


# -- email subject: one header line ----------------------------------------------


@pytest.mark.parametrize(
    "reply_from",
    [
        "Jamie\nBcc: evil@example.com",
        "Jamie\r\nBcc: evil@example.com",
        "Jamie\n",
        "Jamie\u2028Bcc: evil@example.com",
        "Jamie\x85Bcc: evil@example.com",
        "Hi=?UTF-8?Q?=0A?=Bcc: evil@example.com",
    ],
    ids=["lf", "crlf", "trailing-lf", "u2028", "nel", "rfc2047-encoded-lf"],
)
def test_rendered_subject_with_a_line_break_is_refused(
    catalog: TemplateCatalog, reply_from: str
) -> None:
    with pytest.raises(TemplateError, match="subject must be one line"):
        catalog.render(None, "staff_reply", "email_subject", {**REPLY, "reply_from": reply_from})


def test_line_breaks_are_fine_outside_the_subject(catalog: TemplateCatalog) -> None:
    data = {**REPLY, "reply_from": "Jamie", "reply_body": "Line one\nLine two"}

    assert "Line one\nLine two" in catalog.render(None, "staff_reply", "email_text", data)
    assert catalog.render(None, "staff_reply", "email_subject", data).count("\n") == 0


def test_subject_template_with_a_line_break_is_refused_when_saved(
    catalog: TemplateCatalog,
) -> None:
    with pytest.raises(TemplateError, match="one line"):
        catalog.set_override("north", "otp", "email_subject", "Your code\n{{code}}")


# -- parsed once -------------------------------------------------------------------


def test_templates_are_parsed_once_not_per_message(
    catalog: TemplateCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_parse = _compile.pystache.parse

    def counting_parse(source: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(source)
        return real_parse(source, *args, **kwargs)

    monkeypatch.setattr(_compile.pystache, "parse", counting_parse)
    catalog.set_override("north", "otp", "sms", "Code: {{code}}")  # validated: parse 1
    for _ in range(50):
        catalog.render(None, "otp", "sms", OTP)  # default: parsed at load, before this test
        catalog.render("north", "otp", "sms", OTP)  # override: parse 2, then cached

    assert calls == ["Code: {{code}}", "Code: {{code}}"]


@pytest.mark.parametrize("part", [TemplatePart.SMS, TemplatePart.EMAIL_HTML])
@pytest.mark.parametrize(
    "value", ["Tom & Jerry", 'Is <b>5 > 3</b> & "ok"?', "", "Zoë ✓", 0, 10, 2.5, True, False]
)
@pytest.mark.parametrize(
    "source",
    [
        "Hi {{guest_name}}! {{! a comment }}Door {{door_code}} at {{property_name}}.\n",
        "{{#guest_name}}Hi {{.}}, {{/guest_name}}{{^guest_name}}Hello, {{/guest_name}}"
        "door {{door_code}}{{#door_code}} ({{guest_name}}{{#guest_name}}/{{.}}{{/guest_name}})"
        "{{/door_code}}",
    ],
    ids=["variables", "sections"],
)
def test_templates_render_exactly_as_pystache_would(
    catalog: TemplateCatalog, part: TemplatePart, value: object, source: str
) -> None:
    compiled = compile_template(source, catalog.event("key_is_ready"), part)
    through_pystache = dataclasses.replace(compiled, _pieces=None)
    assert compiled._pieces is not None
    data = {**KEY_READY, "guest_name": value}

    assert compiled.render(data) == through_pystache.render(data)
