"""Building RFC 3464 delivery-status reports, as a receiving MTA would, with the email package."""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32


def delivery_report(
    original: bytes,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    recipient: str = "parent@example.org",
    returned: str | None = "message/rfc822",
    envelope_id: str | None = None,
    diagnostic: str = "smtp; 550 5.1.1 <parent@example.org>: Recipient address rejected",
) -> bytes:
    """A ``multipart/report; report-type=delivery-status`` about ``original``.

    :param returned: how the original comes back: ``message/rfc822`` (whole
        message), ``text/rfc822-headers`` (headers only) or ``None`` (not at all).
    """
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.org (Mail Delivery System)"
    report["To"] = "bounces@north-high.example.com"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(
        MIMEText("This is the mail system at host mx.example.org.\n\nI'm sorry to have to ...\n")
    )
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.org"
    if envelope_id is not None:
        per_message["Original-Envelope-Id"] = envelope_id
    per_message["Arrival-Date"] = "Tue, 25 Nov 2025 14:36:00 +0000"
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Remote-MTA"] = "dns; mail.example.org"
    per_recipient["Diagnostic-Code"] = diagnostic
    per_recipient["Last-Attempt-Date"] = "Tue, 25 Nov 2025 14:37:10 +0000"
    status_part = Message()
    status_part.set_type("message/delivery-status")
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    if returned == "message/rfc822":
        report.attach(MIMEMessage(message_from_bytes(original, policy=compat32)))
    elif returned == "text/rfc822-headers":
        headers = original.split(b"\r\n\r\n", 1)[0].decode("ascii") + "\r\n"
        report.attach(MIMEText(headers, "rfc822-headers"))
    return report.as_bytes()
