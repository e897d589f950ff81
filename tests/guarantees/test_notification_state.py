"""A notification's state follows its message and never moves backwards (issue 10, item 10)."""

from __future__ import annotations

from datetime import timedelta

from relaykit.delivery import FallbackReason
from relaykit.results import OutboundMessage
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student

EVENT = "attendance_absence"


async def test_a_late_reconcile_result_never_moves_a_delivered_notification_back_to_sent(
    make_stack: MakeStack,
) -> None:
    """A worker dies after Twilio took the message; its callbacks say delivered before recovery."""
    stack = await make_stack(inline=False)
    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005552300")), SCHOOL_DATA)
    [claimed] = stack.relay.store.deliveries.claim_due(1)
    message = claimed.message
    # the dead worker's provider call: it reached Twilio, its outcome was never committed
    await stack.relay.host.send(
        f"{TENANT}/sms",
        OutboundMessage(
            channel=message.channel, to=message.to_address, body=message.body, reference=message.id
        ),
    )
    await stack.settle()  # the status callbacks arrive: the message is delivered
    before = stack.relay.delivery(record.id)
    assert before is not None and before.messages[0].status == "delivered"

    adopted, resent = await stack.relay.dispatcher.recover(timedelta(0))

    after = stack.relay.delivery(record.id)
    assert (adopted, resent) == (1, 0)
    assert after is not None and after.messages[0].status == "delivered"
    assert after.state == "delivered"
    assert len(stack.sandbox.sent_to("+15005552300")) == 1


async def test_a_fallback_racing_the_delivered_callback_leaves_the_notification_delivered(
    make_stack: MakeStack,
) -> None:
    """The deadline sweep read the SMS as undelivered just before its callback said delivered."""
    stack = await make_stack()
    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005552302")), SCHOOL_DATA)
    await stack.settle()
    sms = stack.relay.store.deliveries.message(record.messages[0].id)
    assert sms is not None and sms.status == "delivered"

    moved = await stack.relay.router.move_on(sms, FallbackReason.DEADLINE)  # what the sweep does
    assert moved is not None
    await stack.relay._continue(moved)

    after = stack.relay.delivery(record.id)
    assert after is not None and after.state == "delivered"
