"""Tenant overrides: resolution over the defaults, validation on save, reset."""

from __future__ import annotations

import pytest

from relaykit.templates import (
    InMemoryTemplateOverrides,
    TemplateCatalog,
    TemplateError,
    TemplateOverrides,
    TemplatePart,
    UnknownEventError,
)

OTP = {"code": "804251", "expires_minutes": 10, "service_name": "North High Portal"}


@pytest.fixture
def store() -> InMemoryTemplateOverrides:
    return InMemoryTemplateOverrides()


@pytest.fixture
def catalog(store: InMemoryTemplateOverrides) -> TemplateCatalog:
    return TemplateCatalog(store)


def test_tenant_override_beats_the_default_for_that_tenant_only(catalog: TemplateCatalog) -> None:
    catalog.set_override("north", "otp", "sms", "North code {{code}}")

    assert catalog.render("north", "otp", "sms", OTP) == "North code 804251"
    assert catalog.render("south", "otp", "sms", OTP).startswith("804251 is your")
    assert catalog.render(None, "otp", "sms", OTP).startswith("804251 is your")
    assert catalog.render("north", "otp", "whatsapp", OTP).startswith("*804251* is your")


def test_source_and_is_overridden_report_what_is_in_effect(catalog: TemplateCatalog) -> None:
    catalog.set_override("north", "otp", TemplatePart.EMAIL_SUBJECT, "Code for {{service_name}}")

    assert catalog.source("otp", "email_subject", "north") == "Code for {{service_name}}"
    assert catalog.source("otp", "email_subject", "south") == catalog.default_source(
        "otp", "email_subject"
    )
    assert catalog.is_overridden("north", "otp", "email_subject")
    assert not catalog.is_overridden("north", "otp", "sms")


def test_saving_a_new_source_replaces_the_old_one(catalog: TemplateCatalog) -> None:
    catalog.set_override("north", "otp", "sms", "First {{code}}")
    catalog.render("north", "otp", "sms", OTP)
    catalog.set_override("north", "otp", "sms", "Second {{code}}")

    assert catalog.render("north", "otp", "sms", OTP) == "Second 804251"


def test_reset_one_part_restores_its_default(catalog: TemplateCatalog) -> None:
    catalog.set_override("north", "otp", "sms", "A {{code}}")
    catalog.set_override("north", "otp", "whatsapp", "B {{code}}")

    catalog.reset_override("north", "otp", "sms")

    assert catalog.render("north", "otp", "sms", OTP).startswith("804251 is your")
    assert catalog.render("north", "otp", "whatsapp", OTP) == "B 804251"


def test_reset_without_a_part_restores_the_whole_event(catalog: TemplateCatalog) -> None:
    catalog.set_override("north", "otp", "sms", "A {{code}}")
    catalog.set_override("north", "otp", "whatsapp", "B {{code}}")
    catalog.set_override("south", "otp", "sms", "C {{code}}")

    catalog.reset_override("north", "otp")

    assert not catalog.is_overridden("north", "otp", "sms")
    assert not catalog.is_overridden("north", "otp", "whatsapp")
    assert catalog.render("south", "otp", "sms", OTP) == "C 804251"


def test_unknown_variable_is_refused_by_name_and_nothing_is_saved(
    catalog: TemplateCatalog, store: InMemoryTemplateOverrides
) -> None:
    with pytest.raises(TemplateError) as caught:
        catalog.set_override("north", "otp", "sms", "{{code}} for {{student_name}}")

    assert caught.value.variable == "student_name"
    assert "unknown variable 'student_name'" in str(caught.value)
    assert "code, expires_minutes, service_name" in str(caught.value)  # what it may use
    assert store.get("north", "otp", TemplatePart.SMS) is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{#code}}unclosed", "does not parse"),
        ("{{#code}}x{{/expires_minutes}}", "does not parse"),
        ("{{code.digits}}", "not a variable name"),
        ("{{ }}", "not a variable name"),
        ("{{.}}", "not a variable name"),
    ],
    ids=["unclosed-section", "mismatched-section", "dotted-name", "empty-tag", "dot-outside"],
)
def test_malformed_templates_are_refused(
    catalog: TemplateCatalog, store: InMemoryTemplateOverrides, source: str, message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        catalog.set_override("north", "otp", "sms", source)

    assert store.get("north", "otp", TemplatePart.SMS) is None


def test_unknown_event_and_part_are_clear_errors(catalog: TemplateCatalog) -> None:
    with pytest.raises(UnknownEventError, match="no templates for event 'bus_late'; known events"):
        catalog.set_override("north", "bus_late", "sms", "Late")
    with pytest.raises(TemplateError, match="unknown template part 'fax'; use one of sms"):
        catalog.set_override("north", "otp", "fax", "{{code}}")


def test_a_stored_source_that_no_longer_compiles_names_the_tenant(
    catalog: TemplateCatalog, store: InMemoryTemplateOverrides
) -> None:
    # E.g. saved before an upgrade renamed a variable, or written around the catalog.
    store.set("north", "otp", TemplatePart.SMS, "{{pin}}")

    with pytest.raises(TemplateError) as caught:
        catalog.render("north", "otp", "sms", OTP)

    assert caught.value.tenant == "north"
    assert str(caught.value).startswith("north/otp/sms: the tenant's saved template is unusable")
    assert "'pin'" in str(caught.value)


def test_in_memory_store_satisfies_the_protocol(store: InMemoryTemplateOverrides) -> None:
    assert isinstance(store, TemplateOverrides)
    store.reset("north", "otp")  # resetting what was never set is fine
    assert store.get("north", "otp", TemplatePart.SMS) is None
