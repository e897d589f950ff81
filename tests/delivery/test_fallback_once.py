"""Every trigger moves a notification on through one router, once per message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student

EVENT = "attendance_absence"
#: a sandbox number Twilio refuses at create with 21614 (not a mobile number): permanent
REFUSED = "+15005550009"


async def test_a_deadline_passing_during_the_send_and_then_a_permanent_error_move_on_once(
    make_stack: MakeStack,
) -> None:
    sms, email = {"channel": "sms", "instance": "sms"}, {"channel": "email", "instance": "mail"}
    routes = {"default": {"steps": [sms, email], "deadline_seconds": 30}}
    stack = await make_stack({"routes": routes}, inline=False)
    record = await stack.relay.anotify(TENANT, EVENT, student(phone(REFUSED)), SCHOOL_DATA)
    claimed = stack.relay.store.deliveries.claim_due(1)  # the send starts

    moved = await stack.relay.sweep_deadlines(datetime.now(UTC) + timedelta(minutes=1))
    result = await stack.relay.unit.run(claimed)  # 21614 comes back

    after = stack.relay.delivery(record.id)
    assert moved == 1 and result.next_messages == []
    assert after is not None and after.fallbacks == [("sms", "deadline")]
    assert [m.channel.value for m in after.messages] == ["sms", "email"]  # one email, not two
