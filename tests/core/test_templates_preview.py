"""Preview: rendered text, length, SMS segments and encoding, warnings instead of errors."""

from __future__ import annotations

import pytest

from relaykit.templates import (
    DEFAULT_MAX_LENGTH,
    InMemoryTemplateOverrides,
    MissingVariableError,
    TemplateCatalog,
    TemplateError,
    WarningKind,
)

ABSENCE = {"student_name": "Jamie Rivera", "school_name": "North High", "absence_date": "12 May"}
OPTIONAL = {"period": "P2", "school_phone": "555 0102"}


@pytest.fixture
def catalog() -> TemplateCatalog:
    return TemplateCatalog(InMemoryTemplateOverrides())


def test_preview_reports_text_length_segments_and_encoding(catalog: TemplateCatalog) -> None:
    preview = catalog.preview("attendance_absence", "sms", {**ABSENCE, **OPTIONAL})

    assert preview.text == (
        "North High: Jamie Rivera was marked absent on 12 May (P2). "
        "Please call 555 0102 if this is unexpected."
    )
    assert preview.characters == len(preview.text) == 102
    assert (preview.segments, preview.encoding) == (1, "GSM-7")
    assert preview.warnings == ()
    assert preview.origin == "default"


def test_preview_without_data_uses_the_declared_examples(catalog: TemplateCatalog) -> None:
    preview = catalog.preview("otp", "sms")

    assert preview.text.startswith("804251 is your North High Portal verification code.")
    assert preview.warnings == ()


def test_emoji_in_test_values_switches_to_ucs2_and_more_segments(
    catalog: TemplateCatalog,
) -> None:
    plain = catalog.preview("attendance_absence", "sms", ABSENCE)
    emoji = catalog.preview("attendance_absence", "sms", {**ABSENCE, "student_name": "Jamie 😜"})

    assert (plain.encoding, plain.segments) == ("GSM-7", 1)
    assert (emoji.encoding, emoji.segments) == ("UCS-2", 2)


def test_email_parts_have_no_segment_count(catalog: TemplateCatalog) -> None:
    preview = catalog.preview("attendance_absence", "email_text", ABSENCE)

    assert (preview.segments, preview.encoding) == (None, None)
    assert preview.characters == len(preview.text)


def test_missing_required_variable_is_a_warning_and_a_visible_placeholder(
    catalog: TemplateCatalog,
) -> None:
    data = {"school_name": "North High", "absence_date": "12 May", **OPTIONAL}

    preview = catalog.preview("attendance_absence", "sms", data)

    assert preview.text.startswith("North High: [student_name] was marked absent")
    assert [(w.kind, w.variable) for w in preview.warnings] == [
        (WarningKind.MISSING_VARIABLE, "student_name")
    ]
    assert "a real send of 'attendance_absence' without it fails" in preview.warnings[0].message
    with pytest.raises(MissingVariableError):  # the placeholder is preview-only
        catalog.render(None, "attendance_absence", "sms", data)


def test_missing_optional_variable_renders_as_a_real_send_would(catalog: TemplateCatalog) -> None:
    preview = catalog.preview("attendance_absence", "sms", ABSENCE)

    assert "[school_phone]" not in preview.text
    assert preview.text.endswith("Please contact the school if this is unexpected.")
    assert preview.text == catalog.render(None, "attendance_absence", "sms", ABSENCE)
    assert [(w.kind, w.variable) for w in preview.warnings] == [
        (WarningKind.MISSING_VARIABLE, "period"),
        (WarningKind.MISSING_VARIABLE, "school_phone"),
    ]
    assert all("renders as empty, as in a real send" in w.message for w in preview.warnings)


def test_missing_optional_variable_not_used_by_the_template_is_not_flagged(
    catalog: TemplateCatalog,
) -> None:
    catalog.set_override("north", "attendance_absence", "sms", "{{student_name}}{{period}}")

    preview = catalog.preview("attendance_absence", "sms", ABSENCE, tenant="north")

    assert [(w.kind, w.variable) for w in preview.warnings] == [
        (WarningKind.MISSING_VARIABLE, "period")
    ]  # school_phone is missing too, but this template does not use it
    assert preview.origin == "override"
    assert preview.text == "Jamie Rivera"


def test_draft_with_undeclared_variable_is_previewed_with_a_warning(
    catalog: TemplateCatalog,
) -> None:
    draft = "{{student_name}} missed {{class_name}} on {{absence_date}}"

    preview = catalog.preview("attendance_absence", "sms", ABSENCE, source=draft)

    assert preview.text == "Jamie Rivera missed [class_name] on 12 May"
    assert [(w.kind, w.variable) for w in preview.warnings] == [
        (WarningKind.UNDECLARED_VARIABLE, "class_name")
    ]
    assert preview.origin == "draft"
    with pytest.raises(TemplateError, match="unknown variable 'class_name'"):
        catalog.set_override("north", "attendance_absence", "sms", draft)


def test_draft_preview_uses_a_test_value_given_for_an_undeclared_variable(
    catalog: TemplateCatalog,
) -> None:
    preview = catalog.preview(
        "attendance_absence", "sms", {**ABSENCE, "class_name": "Maths"}, source="{{class_name}}"
    )

    assert preview.text == "Maths"
    assert preview.warning_kinds() == {WarningKind.UNDECLARED_VARIABLE}


def test_draft_preview_does_not_save_anything(catalog: TemplateCatalog) -> None:
    catalog.preview("otp", "sms", tenant="north", source="Draft {{code}}")

    assert not catalog.is_overridden("north", "otp", "sms")


@pytest.mark.parametrize(
    ("length", "max_length", "too_long"),
    [
        (DEFAULT_MAX_LENGTH, DEFAULT_MAX_LENGTH, False),
        (DEFAULT_MAX_LENGTH + 1, DEFAULT_MAX_LENGTH, True),
        (161, 160, True),
        (160, 160, False),
    ],
)
def test_body_longer_than_the_maximum_is_flagged(
    catalog: TemplateCatalog, length: int, max_length: int, too_long: bool
) -> None:
    data = {**ABSENCE, "student_name": "x" * length}

    preview = catalog.preview(
        "attendance_absence", "sms", data, source="{{student_name}}", max_length=max_length
    )

    assert preview.characters == length
    assert (WarningKind.TOO_LONG in preview.warning_kinds()) is too_long
    assert DEFAULT_MAX_LENGTH == 1000


def test_body_over_the_provider_limit_is_flagged(catalog: TemplateCatalog) -> None:
    preview = catalog.preview(
        "attendance_absence",
        "sms",
        {**ABSENCE, "student_name": "x" * 1601},
        source="{{student_name}}",
    )

    assert preview.warning_kinds() == {WarningKind.TOO_LONG, WarningKind.OVER_PROVIDER_MAXIMUM}
    assert preview.segments == 11


def test_subject_with_a_line_break_in_test_data_is_a_warning_not_an_error(
    catalog: TemplateCatalog,
) -> None:
    preview = catalog.preview(
        "attendance_absence", "email_subject", {**ABSENCE, "student_name": "Jamie\nBcc: x@y.z"}
    )

    assert preview.warning_kinds() == {WarningKind.SUBJECT_NOT_ONE_LINE}
