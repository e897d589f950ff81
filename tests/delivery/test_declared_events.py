"""An event declared in relaykit.toml, sent with ``Relay.anotify`` through the real connectors."""

from __future__ import annotations

import pytest

from relaykit.templates import MissingVariableError
from tests.declared_events import DOORCODE_DATA, DOORCODE_SMS, doorcode_events
from tests.delivery.conftest import TENANT, MakeStack, phone, student

EVENT = "doorcode_changed"
SMS_ONLY = {"routes": {EVENT: {"steps": [{"channel": "sms", "instance": "sms"}]}}}


async def test_a_declared_event_reaches_the_twilio_sandbox_with_its_own_template(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(SMS_ONLY, settings={"events": doorcode_events()})
    person = student(phone("+15005550010", verified="2025-01-01"))

    record = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)

    assert record.state == "sent" and record.channel is not None
    assert record.channel.value == "sms"
    assert [(m.to, m.body) for m in stack.sandbox.messages] == [("+15005550010", DOORCODE_SMS)]


async def test_a_declared_event_falls_back_to_its_email_templates(make_stack: MakeStack) -> None:
    stack = await make_stack(settings={"events": doorcode_events()})
    person = student()  # no phone: the default route's email step sends

    record = await stack.relay.anotify(TENANT, EVENT, person, DOORCODE_DATA)

    assert record.channel is not None and record.channel.value == "email"
    [mail] = stack.emails_to("parent@example.org")
    assert mail["Subject"] == "New door code for Harbour View"
    html = mail.get_body(("html",))
    assert html is not None
    assert "<b>4821</b>" in html.get_content()
    assert stack.sandbox.messages == []


async def test_data_without_a_declared_required_variable_sends_nothing(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(SMS_ONLY, settings={"events": doorcode_events()})
    person = student(phone("+15005550010", verified="2025-01-01"))

    with pytest.raises(MissingVariableError, match="door_code"):
        await stack.relay.anotify(TENANT, EVENT, person, {"site_name": "Harbour View"})

    assert stack.sandbox.messages == []
