"""The demo's story: notifications a school sends, and what relaykit makes of each.

Notifications go in through the JSON API, as a workflow engine would send
them; statuses come back from the Twilio sandbox as signed callbacks to the
service; replies arrive as signed inbound webhooks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relaykit.demo._client import request
from relaykit.demo._otp import OTP_NUMBER, OTP_RECIPIENT, OTP_TITLE, send_otp_during_backlog
from relaykit.demo._stack import MONTHLY_LIMIT, TEACHER_ROLE, TENANT, DemoStack

__all__ = ["Outcome", "Scenario", "run_scenario"]

SCHOOL = {"school_name": "North High School"}
ABSENCE = {**SCHOOL, "student_name": "Jamie Rivera", "absence_date": "Monday 12 May 2025"}
ALERT = {**SCHOOL, "alert_message": "The school is closed today because of a power outage."}
TEACHER = {
    "id": "ms-okafor",
    "role": TEACHER_ROLE,
    "name": "Ms Okafor",
    "email": "okafor@northhigh.example.org",
}
REPLY_FROM = "+15005550011"
REPLY = "Thanks, she is ill today and will be back on Wednesday."

Check = Callable[[dict[str, Any]], bool]


def _parent(pid: str, name: str, number: str, email: str | None = None) -> dict[str, Any]:
    return {
        "id": pid,
        "kind": "guardian",
        "name": name,
        "email": email or f"{pid}@parents.example.org",
        "phones": [{"number": number, "type": "mobile", "sms_status": "enabled"}],
    }


@dataclass(frozen=True)
class Scenario:
    """One notification of the story, and what should become of it."""

    title: str
    event: str
    recipient: dict[str, Any]
    data: dict[str, Any]
    expect: Check
    staff: dict[str, Any] | None = None


@dataclass
class Outcome:
    """One row of the demo's table."""

    title: str
    recipient: str
    delivery: dict[str, Any] = field(default_factory=dict)
    expect: Check = lambda d: True
    ok: bool = False
    #: a sentence printed under the table
    note: str = ""


def _went(channel: str, *statuses: str) -> Check:
    def check(d: dict[str, Any]) -> bool:
        live = [m for m in d.get("messages", []) if not m["fallback_reason"]]
        return d.get("channel") == channel and bool(live) and live[-1]["status"] in statuses

    return check


def _fell_back(reason: str) -> Check:
    def check(d: dict[str, Any]) -> bool:
        reasons = [f["reason"] for f in d.get("fallbacks", [])]
        return reasons == [reason] and _went("email", "sent")(d)

    return check


def scenarios() -> list[Scenario]:
    """The story, in order (the SMS sent before the last one - the OTP scenario's too, sent
    just before it - use up the monthly limit)."""
    return [
        Scenario(
            "SMS delivered",
            "attendance_absence",
            _parent("rivera", "Sam Rivera", "+15005550010"),
            ABSENCE,
            _went("sms", "delivered"),
        ),
        Scenario(
            "WhatsApp for an emergency",
            "emergency_alert",
            _parent("chen", "Li Chen", "+15005550018"),
            ALERT,
            _went("whatsapp", "read"),
        ),
        Scenario(
            "Unsubscribed number",
            "attendance_absence",
            _parent("novak", "Ana Novak", "+15005550004"),
            ABSENCE,
            _fell_back("opted_out"),
        ),
        Scenario(
            "Outside allowed countries",
            "attendance_absence",
            _parent("jones", "Owen Jones", "+442079460958"),
            ABSENCE,
            _fell_back("provider_error"),
        ),
        Scenario(
            "Undelivered by the carrier",
            "attendance_absence",
            _parent("garcia", "Maria Garcia", "+15005550030"),
            ABSENCE,
            _fell_back("undelivered"),
        ),
        Scenario(
            "Teacher texts a parent",
            "attendance_absence",
            _parent("patel", "Ravi Patel", REPLY_FROM),
            ABSENCE,
            _went("sms", "delivered"),
            staff=TEACHER,
        ),
        Scenario(
            f"Monthly limit ({MONTHLY_LIMIT}) reached",
            "attendance_absence",
            _parent("kim", "Joon Kim", "+15005550012"),
            ABSENCE,
            _fell_back("monthly_limit"),
        ),
    ]


async def run_scenario(stack: DemoStack, timeout: float = 15.0) -> list[Outcome]:
    """Send every notification, the parent's reply, then wait until each has settled."""
    outcomes = []
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    *story, last = scenarios()
    for number, scenario in enumerate(story, start=1):
        outcomes.append(await _send(stack, auth, f"demo-{number}", scenario))
    outcomes.append(await _otp_outcome(stack, auth))
    outcomes.append(await _send(stack, auth, f"demo-{len(story) + 1}", last))
    status, answer = await request(
        "POST",
        f"{stack.twilio.url}/_sandbox/inbound",
        form={"From": REPLY_FROM, "To": stack.sms_number, "Body": REPLY},
    )
    if status != 200:
        raise RuntimeError(f"the sandbox could not simulate the reply ({status}: {answer})")
    reply = Outcome(
        "Reply to the teacher's number",
        f"{TEACHER['name']}\n(teacher)",
        expect=_went("email", "sent"),
    )
    outcomes.append(reply)
    deadline = time.monotonic() + timeout
    while True:
        for outcome in outcomes[:-1]:
            _, outcome.delivery = await request(
                "GET", f"{stack.service_url}/v1/deliveries/{outcome.delivery['id']}", headers=auth
            )
        reply.delivery = _staff_reply(stack)
        for outcome in outcomes:
            outcome.ok = outcome.expect(outcome.delivery)
        if all(o.ok for o in outcomes) or time.monotonic() > deadline:
            return outcomes
        await asyncio.sleep(0.2)


async def _send(stack: DemoStack, auth: dict[str, str], key: str, scenario: Scenario) -> Outcome:
    """POST the scenario's notification, as a workflow engine would."""
    body = {"event": scenario.event, "recipient": scenario.recipient, "data": scenario.data}
    if scenario.staff:
        body["staff"] = scenario.staff
    headers = {**auth, "Idempotency-Key": key}
    status, delivery = await request(
        "POST", f"{stack.service_url}/v1/notifications", json_body=body, headers=headers
    )
    if status not in (200, 201):
        raise RuntimeError(f"POST /v1/notifications answered {status}: {delivery}")
    phone = scenario.recipient["phones"][0]["number"]
    return Outcome(
        scenario.title, f"{scenario.recipient['name']}\n{phone}", delivery, scenario.expect
    )


async def _otp_outcome(stack: DemoStack, auth: dict[str, str]) -> Outcome:
    """The OTP sent while a backlog is paced on the same sender (:mod:`._otp`)."""
    run = await send_otp_during_backlog(stack, auth)
    delivered = _went("sms", "delivered")
    return Outcome(
        OTP_TITLE,
        f"{OTP_RECIPIENT['name']}\n{OTP_NUMBER}",
        run.delivery,
        lambda d: run.ahead and delivered(d),
        note=run.note,
    )


def _staff_reply(stack: DemoStack) -> dict[str, Any]:
    """The email that told the teacher about the reply, as a delivery record."""
    store = stack.relay.store
    if not store.inbound.messages(TENANT, staff_user=TEACHER["id"]):
        return {}
    emails = store.deliveries.list_messages(tenant=TENANT, channel="email")
    found = next((m for m in emails if m.to_address == TEACHER["email"]), None)
    record = stack.relay.delivery(found.notification_id) if found else None
    return record.as_dict() if record else {}
