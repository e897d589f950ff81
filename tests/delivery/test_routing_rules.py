"""Each routing rule from the seed products, end to end through the real connectors.

Seeds: SS&E "SMS Configuration Administration" (phone selection, default
statuses, monthly limit, max length, staff two-way SMS and sender pool),
the Portal staff guide (email first for guests, SMS as an alternative),
openSIS (SMS and WhatsApp senders, test numbers).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relaykit.delivery import NotPermittedError
from relaykit.delivery.planner import month_of
from relaykit.store.tables import usage_counters
from tests.delivery.conftest import (
    POOL,
    SCHOOL_DATA,
    TENANT,
    MakeStack,
    phone,
    student,
)

EVENT = "attendance_absence"


async def test_sms_goes_to_the_enabled_number_verified_most_recently(make_stack: MakeStack) -> None:
    stack = await make_stack()
    person = student(
        phone("+15005550010", verified="2025-01-01"),
        phone("+15005550011", verified="2025-03-01"),
        phone("+15005550012", status="default", verified="2025-06-01"),
    )

    record = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)

    assert record.channel is not None and record.channel.value == "sms"
    assert [m.to for m in stack.sandbox.messages] == ["+15005550011"]
    assert "Jamie Rivera" in stack.sandbox.messages[0].body


async def test_equal_dates_pick_the_same_number_every_time(make_stack: MakeStack) -> None:
    stack = await make_stack()
    person = student(
        phone("+15005550021", verified="2025-03-01"), phone("+15005550020", verified="2025-03-01")
    )
    for _ in range(3):
        await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    assert {m.to for m in stack.sandbox.messages} == {"+15005550020"}


async def test_default_status_mobile_is_used_when_students_default_to_opted_in(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    person = student(
        phone("+15005550040", status="default", type="home"),
        phone("+15005550041", status="default", type="mobile"),
    )

    await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)

    assert [m.to for m in stack.sandbox.messages] == ["+15005550041"]


async def test_staff_numbers_in_default_status_count_as_opted_out(make_stack: MakeStack) -> None:
    stack = await make_stack()
    staff_member = student(
        phone("+15005550041", status="default"), email="teacher@example.org", kind="staff"
    )

    record = await stack.relay.anotify(TENANT, EVENT, staff_member, SCHOOL_DATA)

    assert record.channel is not None and record.channel.value == "email"
    assert record.fallbacks == [("sms", "no_number")]
    assert stack.sandbox.messages == [] and len(stack.emails_to("teacher@example.org")) == 1


async def test_only_number_sms_disabled_goes_by_email(make_stack: MakeStack) -> None:
    stack = await make_stack()

    record = await stack.relay.anotify(
        TENANT, EVENT, student(phone("+15005550050", status="disabled")), SCHOOL_DATA
    )

    assert record.fallbacks == [("sms", "no_number")]
    assert "SMS-disabled" in (record.messages[0].error_message or "")
    [mail] = stack.emails_to("parent@example.org")
    assert "Jamie Rivera" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_no_number_and_no_email_fails_with_every_reason(make_stack: MakeStack) -> None:
    stack = await make_stack()
    record = await stack.relay.anotify(TENANT, EVENT, student(email=None), SCHOOL_DATA)
    assert record.state == "failed"
    assert record.fallbacks == [("sms", "no_number"), ("email", "no_email")]


async def test_unsubscribed_number_disables_all_numbers_and_email_goes_out(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    person = student(
        phone("+15005550004", verified="2025-05-01"), phone("+15005550060", verified="2025-01-01")
    )

    first = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    second = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)

    assert first.fallbacks == [("sms", "opted_out")]
    assert first.messages[0].error_code == "21610"
    assert second.fallbacks == [("sms", "opted_out")]  # the other number is disabled too
    assert len(stack.emails_to("parent@example.org")) == 2
    assert [m.to for m in stack.sandbox.messages] == []  # 21610 refuses at create
    opted = {e.address for e in stack.relay.store.optouts.entries(TENANT) if e.opted_out}
    assert opted == {"+15005550004", "+15005550060"}


async def test_stop_reply_opts_out_every_number_and_start_re_enables_only_its_own(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    person = student(
        phone("+15005550070", verified="2025-05-01"), phone("+15005550071", verified="2025-01-01")
    )
    await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    await stack.settle()

    await stack.sandbox.simulate_inbound("+15005550070", "+15005550006", "STOP")
    blocked = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    await stack.sandbox.simulate_inbound("+15005550071", "+15005550006", "START")
    resumed = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)

    assert blocked.fallbacks == [("sms", "opted_out")]
    assert resumed.channel is not None and resumed.channel.value == "sms"
    assert resumed.messages[-1].to_address == "+15005550071"


async def test_the_sms_after_the_monthly_limit_goes_by_email(make_stack: MakeStack) -> None:
    stack = await make_stack({"sms": {"monthly_limit": 5000}})
    month = month_of(datetime.now(UTC), "Europe/London")
    with stack.relay.store.engine.begin() as connection:
        connection.execute(
            usage_counters.insert().values(tenant=TENANT, month=month, channel="sms", count=4999)
        )
    person = student(phone("+15005550080"))

    sms_5000 = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    sms_5001 = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)

    assert sms_5000.channel is not None and sms_5000.channel.value == "sms"
    assert sms_5001.fallbacks == [("sms", "monthly_limit")]
    assert "5000 of 5000" in (sms_5001.messages[0].error_message or "")
    assert stack.relay.store.usage.count(TENANT, month, "sms") == 5000


async def test_a_body_longer_than_the_tenant_maximum_goes_by_email(make_stack: MakeStack) -> None:
    stack = await make_stack({"sms": {"max_length": 40}})
    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550080")), SCHOOL_DATA)
    assert record.fallbacks == [("sms", "too_long")]
    assert stack.sandbox.messages == []


async def test_destination_outside_the_allowed_countries_falls_back(make_stack: MakeStack) -> None:
    stack = await make_stack(sms_settings={"allowed_countries": ["US"]})
    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+442079460958")), SCHOOL_DATA)
    assert record.fallbacks == [("sms", "provider_error")]
    assert "GB" in (record.messages[0].error_message or "")
    assert stack.sandbox.create_attempts == 0


async def test_guests_get_email_first_and_sms_only_after(make_stack: MakeStack) -> None:
    routes = {
        "default": {
            "steps": [
                {"channel": "sms", "instance": "sms"},
                {"channel": "email", "instance": "mail"},
            ],
            "by_kind": {
                "guest": [
                    {"channel": "email", "instance": "mail"},
                    {"channel": "sms", "instance": "sms"},
                ]
            },
        }
    }
    stack = await make_stack({"routes": routes})
    guest = student(phone("+15005550080"), kind="guest", email="guest@example.org")
    no_email_guest = student(phone("+15005550081"), kind="guest", email=None)

    with_email = await stack.relay.anotify(
        TENANT, "key_is_ready", guest, {"property_name": "Harbour View"}
    )
    without = await stack.relay.anotify(
        TENANT, "key_is_ready", no_email_guest, {"property_name": "Harbour View"}
    )

    assert with_email.channel is not None and with_email.channel.value == "email"
    assert without.fallbacks == [("email", "no_email")]
    assert [m.to for m in stack.sandbox.messages] == ["+15005550081"]


async def test_whatsapp_outside_the_24_hour_window_falls_back_to_sms(make_stack: MakeStack) -> None:
    routes = {
        "default": {
            "steps": [
                {"channel": "whatsapp", "instance": "sms"},
                {"channel": "sms", "instance": "sms"},
                {"channel": "email", "instance": "mail"},
            ]
        }
    }
    stack = await make_stack({"routes": routes})

    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550016")), SCHOOL_DATA)

    assert record.fallbacks == [("whatsapp", "outside_session_window")]
    assert record.messages[0].error_code == "63016"
    assert record.channel is not None and record.channel.value == "sms"


async def test_undelivered_callback_moves_the_notification_to_email_once(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()

    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550030")), SCHOOL_DATA)
    await stack.settle()
    after = stack.relay.delivery(record.id)

    assert after is not None
    assert after.fallbacks == [("sms", "undelivered")]
    assert after.messages[0].error_code == "30003"
    assert after.channel is not None and after.channel.value == "email"
    assert len(stack.emails_to("parent@example.org")) == 1


async def test_missed_delivery_deadline_moves_to_the_next_channel(make_stack: MakeStack) -> None:
    routes = {
        "default": {
            "deadline_minutes": 5,
            "steps": [
                {"channel": "sms", "instance": "sms"},
                {"channel": "email", "instance": "mail"},
            ],
        }
    }
    stack = await make_stack({"routes": routes})
    stuck = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550033")), SCHOOL_DATA)
    fine = await stack.relay.anotify(
        TENANT, EVENT, student(phone("+15005550034"), email="other@example.org"), SCHOOL_DATA
    )
    await stack.settle()

    moved = await stack.relay.sweep_deadlines(datetime.now(UTC) + timedelta(minutes=6))

    assert moved == 1
    assert stack.relay.delivery(stuck.id).fallbacks == [("sms", "deadline")]  # type: ignore[union-attr]
    assert stack.relay.delivery(fine.id).state == "delivered"  # type: ignore[union-attr]
    assert len(stack.emails_to("parent@example.org")) == 1


async def test_rejected_credentials_mark_the_instance_not_connected(make_stack: MakeStack) -> None:
    stack = await make_stack(sms_settings={"auth_token": "0" * 32})
    person = student(phone("+15005550080"))

    first = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    second = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)

    assert first.fallbacks == [("sms", "not_connected")]
    assert first.messages[0].error_code == "20003"
    assert second.fallbacks == [("sms", "not_connected")]
    assert first.messages[0].attempt_count == 1
    assert second.messages[0].attempt_count == 0  # skipped: the provider was not called again


async def test_same_idempotency_key_never_sends_twice(make_stack: MakeStack) -> None:
    stack = await make_stack()
    person = student(phone("+15005550080"))

    first = await stack.relay.anotify(
        TENANT, EVENT, person, SCHOOL_DATA, idempotency_key="absence-991"
    )
    again = await stack.relay.anotify(
        TENANT, EVENT, person, SCHOOL_DATA, idempotency_key="absence-991"
    )

    assert again.id == first.id and again.duplicate
    assert len(stack.sandbox.messages) == 1
    assert stack.relay.delivery_by_key(TENANT, "absence-991").id == first.id  # type: ignore[union-attr]


async def test_staff_without_a_permitted_role_may_not_send(make_stack: MakeStack) -> None:
    stack = await make_stack()
    with pytest.raises(NotPermittedError, match="role 'caretaker'"):
        await stack.relay.anotify(
            TENANT,
            EVENT,
            student(phone("+15005550080")),
            SCHOOL_DATA,
            staff={"id": "mr-bean", "role": "caretaker"},
        )
    assert stack.sandbox.messages == []


async def test_students_are_never_assigned_a_sender_number(make_stack: MakeStack) -> None:
    stack = await make_stack()
    with pytest.raises(NotPermittedError, match="only staff"):
        await stack.relay.anotify(
            TENANT,
            EVENT,
            student(phone("+15005550080")),
            SCHOOL_DATA,
            staff={"id": "stu-9", "role": "teacher", "kind": "student"},
        )
    assert stack.relay.store.senders.assignments(TENANT) == []


async def test_each_staff_sender_keeps_a_pool_number_and_the_pool_runs_out_to_email(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    person = student(phone("+15005550080"))
    teachers = [{"id": f"t{n}", "role": "teacher", "email": f"t{n}@example.org"} for n in range(3)]

    records = [
        await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA, staff=t) for t in teachers
    ]
    again = await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA, staff=teachers[0])

    assert [m.from_ for m in stack.sandbox.messages] == [POOL[0], POOL[1], POOL[0]]
    assert records[2].fallbacks == [("sms", "sender_pool_exhausted")]
    assert again.channel is not None and again.channel.value == "sms"


async def test_a_reply_to_a_staff_number_reaches_that_staff_user_by_email(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    teacher = {"id": "ms-okafor", "role": "teacher", "email": "okafor@example.org"}
    await stack.relay.anotify(
        TENANT, EVENT, student(phone("+15005550080")), SCHOOL_DATA, staff=teacher
    )
    await stack.settle()

    await stack.sandbox.simulate_inbound("+15005550080", POOL[0], "Thanks, she is ill today")

    [inbound] = stack.relay.store.inbound.messages(TENANT, staff_user="ms-okafor")
    assert inbound["body"] == "Thanks, she is ill today" and inbound["sender"] == "+15005550080"
    [mail] = stack.emails_to("okafor@example.org")
    assert "Thanks, she is ill today" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_a_replayed_stop_cannot_flip_consent_twice(make_stack: MakeStack) -> None:
    stack = await make_stack()
    person = student(phone("+15005550090"))
    await stack.relay.anotify(TENANT, EVENT, person, SCHOOL_DATA)
    await stack.settle()
    stop = await stack.sandbox.simulate_inbound("+15005550090", "+15005550006", "STOP")
    await stack.sandbox.simulate_inbound("+15005550090", "+15005550006", "START")

    # Replay the captured STOP webhook byte for byte: verified, but already applied.
    import aiohttp

    delivery = stop.callbacks[0]
    async with (
        aiohttp.ClientSession() as session,
        session.post(delivery.url, data=delivery.params, headers=delivery.headers) as response,
    ):
        assert response.status == 200

    assert not stack.relay.store.optouts.opted_out(TENANT, "sms", ["+15005550090"])
