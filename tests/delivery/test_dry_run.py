"""A broadcast's dry run predicts what a real send of the same recipients then does, and
writes nothing: compared against the Twilio sandbox and the SMTP sink, recipient by recipient.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rich.console import Console
from sqlalchemy import func, select

from relaykit.delivery import Relay
from relaykit.delivery.dry_run import plan_broadcast
from relaykit.delivery.dry_run_report import DryRunReport
from relaykit.delivery.pacing import BroadcastPacing
from relaykit.delivery.planner import Plan
from relaykit.recipients import Recipient
from relaykit.results import Channel
from relaykit.store import DeliveryRecord
from relaykit.store.tables import metadata
from tests.delivery.conftest import TENANT, MakeStack, Stack, phone, student

EVENT = "emergency_alert"
ALERT = {"school_name": "North High School", "alert_message": "The school is closed today."}
OPTED_OUT = "+15005550012"


@dataclass(frozen=True)
class BadRow:
    """Shaped like ``relaykit.recipient_files.BadRow``."""

    line: int
    reason: str


def person(index: int, *phones: dict[str, Any], email: str | None = "") -> dict[str, Any]:
    return student(
        *phones, id=f"stu-{index}", email=f"parent{index}@example.org" if email == "" else email
    )


def row_counts(relay: Relay) -> dict[str, int]:
    with relay.store.engine.connect() as connection:
        return {
            table.name: int(
                connection.execute(select(func.count()).select_from(table)).scalar_one()
            )
            for table in metadata.sorted_tables
        }


async def send_like_a_broadcast(
    relay: Relay,
    rows: Sequence[tuple[dict[str, Any], Mapping[str, Any]]],
    deadline: timedelta | None = None,
) -> list[DeliveryRecord]:
    """Each recipient for real, one after another, planned as the broadcast core plans its
    i-th recipient: ``Plan.build(..., skip=pacing.skipped_channels(i))``."""
    pacing = BroadcastPacing.for_event(relay.host.settings, TENANT, EVENT, deadline)
    records = []
    for index, (mapping, own) in enumerate(rows):
        plan = Plan.build(
            TENANT,
            relay.tenant(TENANT),
            EVENT,
            Recipient.model_validate(mapping),
            {**ALERT, **own},
            skip=pacing.skipped_channels(index),
        )
        records.append(await relay._start(plan))
    return records


def assert_predicted(report: DryRunReport, records: list[DeliveryRecord]) -> None:
    """The dry run's counts are those of the real send, by channel and by reason."""
    reached = [r for r in records if r.state != "failed"]
    assert report.by_channel == Counter(r.channel for r in reached)
    fallbacks: dict[Channel, Counter[str]] = {}
    for record in records:
        for channel, reason in record.fallbacks:
            fallbacks.setdefault(Channel(channel), Counter())[reason] += 1
    assert report.fallbacks == fallbacks
    unreachable = Counter(
        "+".join(reason for _, reason in r.fallbacks) for r in records if r.state == "failed"
    )
    assert report.unreachable == unreachable
    sent_sms = [m for r in reached for m in r.messages if m.channel == Channel.SMS and m.segments]
    assert report.segments_total == sum(m.segments or 0 for m in sent_sms)


async def dry_run_then_send(
    stack: Stack,
    rows: Sequence[tuple[dict[str, Any], Mapping[str, Any]]],
    deadline: timedelta | None = None,
) -> tuple[DryRunReport, list[DeliveryRecord]]:
    before = row_counts(stack.relay)
    report = plan_broadcast(stack.relay, TENANT, EVENT, rows, ALERT, deadline=deadline)
    await stack.settle()
    assert row_counts(stack.relay) == before, "the dry run wrote to the store"
    assert stack.sandbox.messages == [] and stack.sink.received == [], "the dry run sent"
    records = await send_like_a_broadcast(stack.relay, rows, deadline)
    return report, records


async def test_the_seed_rules_are_predicted_recipient_by_recipient(make_stack: MakeStack) -> None:
    stack = await make_stack({"sms": {"monthly_limit": 3, "max_length": 200}})
    stack.relay.store.optouts.set(TENANT, "sms", [OPTED_OUT], opted_out=True, source="STOP")
    long_alert = {"alert_message": "The school is closed today. " * 10}
    rows: list[tuple[dict[str, Any], Mapping[str, Any]]] = [
        (person(0, phone("+15005550010")), {}),
        (person(1), {}),  # no phone: email
        (person(2, phone(OPTED_OUT)), {}),
        (person(3, phone("+15005550013")), long_alert),  # too long for SMS
        (person(4, phone("+15005550014")), {}),
        (person(5, phone("+15005550015")), {}),  # the third SMS of the month
        (person(6, phone("+15005550016")), {}),  # the limit is reached: email
        (person(7, email=None), {}),  # no phone, no email: unreachable
    ]

    report, records = await dry_run_then_send(stack, rows)

    assert_predicted(report, records)
    assert report.total == 8
    assert report.by_channel == {Channel.SMS: 3, Channel.EMAIL: 4}
    assert report.fallbacks == {
        Channel.SMS: {"no_number": 2, "opted_out": 1, "too_long": 1, "monthly_limit": 1},
        Channel.EMAIL: {"no_email": 1},
    }
    assert report.unreachable == {"no_number+no_email": 1}
    assert len(stack.sandbox.messages) == 3


async def test_recipients_past_the_deadline_are_predicted_to_fall_back(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    instances = stack.relay.tenant(TENANT).instances
    # 1,000 SMS a second from one number, no burst: the n-th message goes n ms in
    instances["sms"] = instances["sms"].model_copy(update={"rate_per_second": 1000, "burst": 1})
    rows = [(person(i, phone(f"+1500555002{i}")), {}) for i in range(6)]

    report, records = await dry_run_then_send(stack, rows, timedelta(milliseconds=2.5))

    assert_predicted(report, records)
    assert report.by_channel == {Channel.SMS: 3, Channel.EMAIL: 3}
    assert report.fallbacks == {Channel.SMS: {"paced_past_deadline": 3}}
    assert report.rate == 1000 and report.eta == timedelta(milliseconds=2)


async def test_segments_by_encoding_and_bad_rows_with_their_lines(make_stack: MakeStack) -> None:
    stack = await make_stack()
    rows = [
        (person(0, phone("+15005550010")), {}),
        BadRow(2, "line 2 is not JSON: Expecting value"),
        (person(1, phone("+15005550011")), {"alert_message": "Fermeture à cause de la neige ❄"}),
        {"kind": "student"},  # no id
    ]

    report = plan_broadcast(stack.relay, TENANT, EVENT, rows, ALERT)

    assert report.total == 2 and report.bad_rows == 2
    assert [(p.line, p.reason) for p in report.shown_bad_rows] == [
        (2, "line 2 is not JSON: Expecting value"),
        (4, "id: Field required"),
    ]
    assert {e: (t.messages, t.segments) for e, t in report.sms_segments.items()} == {
        "GSM-7": (1, 1),
        "UCS-2": (1, 2),
    }
    as_json = report.as_dict()
    assert as_json["sms_segments"] == {
        "total": 3,
        "by_encoding": {
            "GSM-7": {"messages": 1, "segments": 1},
            "UCS-2": {"messages": 1, "segments": 2},
        },
    }
    assert as_json["bad_rows"]["count"] == 2


async def test_the_report_renders_the_eta_and_what_goes_by_email(make_stack: MakeStack) -> None:
    stack = await make_stack()
    rows = [(person(i, phone(f"+1500555003{i}")), {}) for i in range(3)] + [(person(9), {})]
    console = Console(record=True, width=100)

    plan_broadcast(stack.relay, TENANT, EVENT, rows, ALERT).render(console)

    text = console.export_text()
    assert "Dry run: 4 recipients" in text
    assert "no_number" in text and "GSM-7" in text
    assert "sms: 3 messages at 1000/s" in text
