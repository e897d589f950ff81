"""WhatsApp's route: session message → approved template (on 63016) → SMS → email, end to end.

The real Twilio connector talks to the sandbox through the official SDK; the
sandbox models WhatsApp's 24-hour window and Content templates as Twilio
documents them, and posts its status callbacks, signed, to the relay.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from typing import Any

from relaykit.store import DeliveryRecord
from relaykit_twilio_sandbox import ContentTemplate
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, Stack, phone, student
from tests.whatsapp_events import ABSENCE_CONTENT, ABSENCE_SID, PROVIDER_TEMPLATE_TOML

EVENT = "attendance_absence"
SENDER = "whatsapp:+15005550006"
WHATSAPP_SMS_EMAIL = {
    "routes": {
        "default": {
            "steps": [
                {"channel": "whatsapp", "instance": "sms"},
                {"channel": "sms", "instance": "sms"},
                {"channel": "email", "instance": "mail"},
            ]
        }
    }
}
#: What the approved template says once Twilio fills it in with the event's data.
TEMPLATE_TEXT = (
    "Jamie Rivera was marked absent on Monday 12 May 2025. Reply to this message to talk to us."
)


def provider_events() -> dict[str, Any]:
    events: dict[str, Any] = tomllib.loads(PROVIDER_TEMPLATE_TOML)["events"]
    return events


async def windowed_stack(make_stack: MakeStack, *, seeded: bool = True) -> Stack:
    """The route above, the event's approved template, the sandbox modelling the window."""
    stack = await make_stack(WHATSAPP_SMS_EMAIL, settings={"events": provider_events()})
    account = stack.sandbox.default_account
    account.whatsapp_session_window = True
    if seeded:
        account.add_content(ContentTemplate(sid=ABSENCE_SID, body=ABSENCE_CONTENT))
    return stack


async def settled(stack: Stack, notification_id: str) -> DeliveryRecord:
    """The delivery once every message (and what its callbacks started) reached its end."""
    seen = -1
    while seen != len(stack.sandbox.messages):
        seen = len(stack.sandbox.messages)
        await stack.settle()
    record = stack.relay.delivery(notification_id)
    assert record is not None
    return record


async def test_inside_the_window_the_session_message_is_delivered_as_free_form(
    make_stack: MakeStack,
) -> None:
    stack = await windowed_stack(make_stack)
    await stack.sandbox.simulate_inbound("whatsapp:+15005550010", SENDER, "Is Jamie in today?")

    sent = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550010")), SCHOOL_DATA)
    record = await settled(stack, sent.id)

    assert record.state == "delivered" and record.fallbacks == []
    (message,) = stack.sandbox.sent_to("whatsapp:+15005550010")
    assert message.content_sid is None and "*North High School*" in message.body
    assert stack.sandbox.sent_to("+15005550010") == []


async def test_outside_the_window_63016_brings_the_approved_template_then_it_is_delivered(
    make_stack: MakeStack,
) -> None:
    stack = await windowed_stack(make_stack)

    sent = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550010")), SCHOOL_DATA)
    record = await settled(stack, sent.id)

    assert record.fallbacks == [("whatsapp", "outside_session_window")]
    assert record.state == "delivered" and record.channel is not None
    assert record.channel.value == "whatsapp"
    session, template = stack.sandbox.sent_to("whatsapp:+15005550010")
    assert (session.status, session.error_code, session.content_sid) == ("failed", 63016, None)
    assert (template.status, template.content_sid, template.body) == (
        "delivered",
        ABSENCE_SID,
        TEMPLATE_TEXT,
    )
    assert [m.error_code for m in record.messages] == ["63016", None]
    assert stack.sandbox.sent_to("+15005550010") == []
    assert stack.emails_to("parent@example.org") == []


async def test_a_63016_at_create_brings_the_template_too(make_stack: MakeStack) -> None:
    stack = await windowed_stack(make_stack)

    sent = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550016")), SCHOOL_DATA)
    record = await settled(stack, sent.id)

    assert record.fallbacks == [("whatsapp", "outside_session_window")]
    (template,) = stack.sandbox.sent_to("whatsapp:+15005550016")
    assert (template.content_sid, template.status) == (ABSENCE_SID, "delivered")


async def test_an_unknown_template_falls_to_sms_then_email_with_every_reason_recorded(
    make_stack: MakeStack,
) -> None:
    stack = await windowed_stack(make_stack, seeded=False)  # the Content SID is not Twilio's
    person = student(phone("+15005550030"))  # SMS to it ends undelivered (30003)

    sent = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    record = await settled(stack, sent.id)

    assert record.fallbacks == [
        ("whatsapp", "outside_session_window"),
        ("whatsapp", "provider_error"),
        ("sms", "undelivered"),
    ]
    assert [m.error_code for m in record.messages] == ["63016", "21655", "30003", None]
    assert record.channel is not None and record.channel.value == "email"
    assert len(stack.emails_to("parent@example.org")) == 1


async def test_an_event_without_an_approved_template_goes_from_63016_straight_to_sms(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(WHATSAPP_SMS_EMAIL)
    stack.sandbox.default_account.whatsapp_session_window = True

    sent = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550010")), SCHOOL_DATA)
    record = await settled(stack, sent.id)

    assert record.fallbacks == [("whatsapp", "outside_session_window")]
    assert record.channel is not None and record.channel.value == "sms"
    assert len(stack.sandbox.sent_to("whatsapp:+15005550010")) == 1
    assert [m.status for m in stack.sandbox.sent_to("+15005550010")] == ["delivered"]


async def test_the_worker_sends_the_template_it_reads_back_from_the_store(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(
        WHATSAPP_SMS_EMAIL, settings={"events": provider_events()}, inline=False
    )
    account = stack.sandbox.default_account
    account.whatsapp_session_window = True
    account.add_content(ContentTemplate(sid=ABSENCE_SID, body=ABSENCE_CONTENT))
    sent = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550010")), SCHOOL_DATA)

    for _ in range(10):  # claim and send what is due, let callbacks come back, again
        claimed = stack.relay.store.deliveries.claim_due(10)
        if claimed:
            await stack.relay.unit.run(claimed)
        await stack.settle()

    record = stack.relay.delivery(sent.id)
    assert record is not None and record.state == "delivered"
    assert record.fallbacks == [("whatsapp", "outside_session_window")]
    assert [m.content_sid for m in stack.sandbox.sent_to("whatsapp:+15005550010")] == [
        None,
        ABSENCE_SID,
    ]


async def test_a_template_send_lost_in_a_crash_is_adopted_not_sent_again(
    make_stack: MakeStack,
) -> None:
    """A worker dies after Twilio took the approved template; recovery finds it at Twilio
    (whose record has the template's text, not the session text relaykit keeps)."""
    stack = await make_stack(
        WHATSAPP_SMS_EMAIL, settings={"events": provider_events()}, inline=False
    )
    account = stack.sandbox.default_account
    account.whatsapp_session_window = True
    account.add_content(ContentTemplate(sid=ABSENCE_SID, body=ABSENCE_CONTENT))
    sent = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550010")), SCHOOL_DATA)
    await stack.relay.unit.run(stack.relay.store.deliveries.claim_due(10))
    await stack.settle()  # the session message fails with 63016: the template step is due
    [claimed] = stack.relay.store.deliveries.claim_due(10)
    assert claimed.message.template is not None
    # the dead worker's provider call: it reached Twilio, its outcome was never committed
    await stack.relay.host.send(f"{TENANT}/sms", claimed.message.outbound())
    await stack.settle()

    adopted, resent = await stack.relay.dispatcher.recover(timedelta(0))

    assert (adopted, resent) == (1, 0)
    assert [m.content_sid for m in stack.sandbox.sent_to("whatsapp:+15005550010")] == [
        None,
        ABSENCE_SID,
    ]
    record = await settled(stack, sent.id)
    assert record.state == "delivered"
