"""Quiet hours: no SMS or WhatsApp in the tenant's quiet local hours; the next step goes instead.

The rule added to show a fallback rule is one function plus one reason
(``outside_quiet_hours`` in ``relaykit.delivery.planner``, ``quiet_hours``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from relaykit.policy import QuietHours
from tests.delivery.conftest import SCHOOL_DATA, TENANT, MakeStack, phone, student

EVENT = "attendance_absence"
ZONE = "Asia/Tokyo"  # not the tenant's Europe/London: the quiet hours' own zone counts


def hours_around_now(before: int, after: int) -> dict[str, str]:
    local = datetime.now(UTC).astimezone(ZoneInfo(ZONE))
    start, end = local - timedelta(hours=before), local + timedelta(hours=after)
    return {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "timezone": ZONE}


async def test_an_sms_in_quiet_hours_goes_by_email(make_stack: MakeStack) -> None:
    stack = await make_stack({"quiet_hours": hours_around_now(2, 2)})

    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550080")), SCHOOL_DATA)

    assert record.fallbacks == [("sms", "quiet_hours")]
    assert ZONE in (record.messages[0].error_message or "")
    assert record.channel is not None and record.channel.value == "email"
    assert stack.sandbox.messages == []
    assert len(stack.emails_to("parent@example.org")) == 1


async def test_an_sms_outside_quiet_hours_goes_by_sms(make_stack: MakeStack) -> None:
    stack = await make_stack({"quiet_hours": hours_around_now(-3, 6)})  # from 3 h ahead, for 3 h

    record = await stack.relay.anotify(TENANT, EVENT, student(phone("+15005550080")), SCHOOL_DATA)

    assert record.fallbacks == []
    assert record.channel is not None and record.channel.value == "sms"
    assert [m.to for m in stack.sandbox.messages] == ["+15005550080"]


def test_quiet_hours_past_midnight_cover_the_late_evening_and_the_early_morning() -> None:
    quiet = QuietHours.model_validate(
        {"start": "21:00", "end": "07:00", "timezone": "Europe/London"}
    )
    london = ZoneInfo("Europe/London")

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 12, 3, hour, minute, tzinfo=london)

    assert [quiet.covers(at(h, m), "UTC") for h, m in [(20, 59), (21, 0), (2, 0), (6, 59)]] == [
        False,
        True,
        True,
        True,
    ]
    assert not quiet.covers(at(7, 0), "UTC")
    assert quiet.covers(datetime(2026, 12, 3, 22, 30, tzinfo=UTC), "Asia/Tokyo")  # its own zone
