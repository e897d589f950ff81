"""The JSON request bodies of the API, as pydantic models (they also feed the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relaykit.recipients import Recipient, StaffUser
from relaykit.templates import TemplatePart

__all__ = ["NotificationRequest", "PreviewRequest", "describe_errors"]

_BODY = ConfigDict(extra="forbid", hide_input_in_errors=True)


class NotificationRequest(BaseModel):
    """``POST /v1/notifications``: the arguments of ``Relay.notify``.

    The idempotency key travels in the ``Idempotency-Key`` header.
    """

    model_config = _BODY

    tenant: str | None = Field(
        default=None, description="The key's own tenant; may be left out.", min_length=1
    )
    event: str = Field(min_length=1, description="e.g. attendance_absence, key_is_ready, otp")
    recipient: Recipient
    data: dict[str, Any] = Field(default_factory=dict, description="The templates' variables.")
    staff: StaffUser | None = Field(
        default=None, description="The staff user sending a two-way SMS, if any."
    )


class PreviewRequest(BaseModel):
    """``POST /v1/templates/preview``: render one part of an event's template with test values."""

    model_config = _BODY

    event: str = Field(min_length=1)
    part: TemplatePart
    data: dict[str, Any] | None = Field(
        default=None, description="Test values; the variables' examples when left out."
    )
    source: str | None = Field(
        default=None, description="A draft template to preview instead of the one in effect."
    )


def describe_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Each problem as ``{"field": "recipient.phones.0.number", "message": ...}``, input hidden."""
    problems = []
    for item in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "(body)"
        problems.append({"field": prefix + location, "message": item["msg"]})
    return problems
