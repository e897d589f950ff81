"""The demo's OTP scenario: a one-time passcode sent while a backlog of SMS is being paced
on the same sender, and delivered ahead of most of it with Twilio's validity period.

The backlog goes in through the demo's relay in-process, as a broadcast would
(many notifications at once, each paced at the sender's rate); the OTP goes in
through the JSON API like every other scenario. Its route (``otp``, see
``_stack``) is SMS only, ``priority = "high"``, ``validity_period = 60``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from relaykit.demo._client import request
from relaykit.demo._stack import BACKLOG, TENANT, DemoStack

__all__ = ["OTP_NUMBER", "OTP_RECIPIENT", "OTP_TITLE", "OtpRun", "send_otp_during_backlog"]

OTP_TITLE = f"OTP during a {BACKLOG}-SMS backlog"
OTP_NUMBER = "+15005550019"
OTP_RECIPIENT = {
    "id": "rivera",
    "kind": "guardian",
    "name": "Sam Rivera",
    "phones": [{"number": OTP_NUMBER, "type": "mobile", "sms_status": "enabled"}],
}
OTP_DATA = {"code": "804251", "expires_minutes": "1", "service_name": "North High Portal"}
_BACKLOG_DATA = {
    "school_name": "North High School",
    "student_name": "a student",
    "absence_date": "Monday 12 May 2025",
}


class OtpRun:
    """What the scenario did: the OTP's delivery (as the API answered) and, once the
    backlog is sent, how many backlog SMS reached Twilio after the OTP."""

    def __init__(self, delivery: dict[str, Any]) -> None:
        self.delivery = delivery
        self.behind = 0
        self.validity_period: int | None = None

    @property
    def ahead(self) -> bool:
        """The OTP went ahead of at least half of the backlog queued before it."""
        return self.behind >= BACKLOG // 2

    @property
    def note(self) -> str:
        return (
            f"The OTP reached Twilio with ValidityPeriod={self.validity_period} ahead of "
            f"{self.behind} of the {BACKLOG} backlog SMS queued on the same sender before it "
            "(priority high: it does not wait in the sender's line)."
        )


async def send_otp_during_backlog(stack: DemoStack, headers: dict[str, str]) -> OtpRun:
    """Start the backlog, send the OTP through the API once the backlog is under way, then
    wait for the backlog to be sent."""
    backlog = [
        asyncio.create_task(
            stack.relay.anotify(TENANT, "attendance_absence", _backlog_person(n), _BACKLOG_DATA)
        )
        for n in range(BACKLOG)
    ]
    try:
        while not await _sandbox_messages(stack):  # the line is formed once one has gone
            await asyncio.sleep(0.01)
        body = {"event": "otp", "recipient": OTP_RECIPIENT, "data": OTP_DATA}
        status, delivery = await request(
            "POST",
            f"{stack.service_url}/v1/notifications",
            json_body=body,
            headers={**headers, "Idempotency-Key": "demo-otp"},
        )
        if status not in (200, 201):
            raise RuntimeError(f"POST /v1/notifications answered {status}: {delivery}")
    finally:
        await asyncio.gather(*backlog)
    run = OtpRun(delivery)
    sent = await _sandbox_messages(stack)
    at = next((i for i, m in enumerate(sent) if m["to"] == OTP_NUMBER), len(sent))
    run.behind = sum(1 for m in sent[at + 1 :] if m["to"] != OTP_NUMBER)
    run.validity_period = sent[at]["validity_period"] if at < len(sent) else None
    return run


def _backlog_person(n: int) -> dict[str, Any]:
    number = f"+1500555{6000 + n}"
    return {
        "id": f"backlog-{n}",
        "kind": "guardian",
        "email": f"backlog-{n}@parents.example.org",
        "phones": [{"number": number, "type": "mobile", "sms_status": "enabled"}],
    }


async def _sandbox_messages(stack: DemoStack) -> list[dict[str, Any]]:
    """The sandbox's outbound messages to the backlog's and the OTP's numbers, oldest first."""
    _, answer = await request("GET", f"{stack.twilio.url}/_sandbox/messages")
    rows: list[dict[str, Any]] = (answer or {}).get("messages", [])
    return [m for m in rows if m["to"] == OTP_NUMBER or m["to"].startswith("+15005556")]
