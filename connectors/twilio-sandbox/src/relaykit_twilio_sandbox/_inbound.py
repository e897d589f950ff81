"""Someone texts one of the account's numbers: the inbound message and its webhook parameters.

Keywords follow Twilio's Advanced Opt-Out defaults: an SMS whose whole body is
an opt-out keyword adds ``OptOutType=STOP`` and puts the pair on the account's
opt-out list (so a later send to that person fails with 21610); an opt-in
keyword adds ``OptOutType=START`` and takes it off; a help keyword adds
``OptOutType=HELP``. A WhatsApp message opens the 24-hour customer service
window between its sender and the number (``SandboxAccount.sessions``).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime

from relaykit_twilio_sandbox._accounts import IncomingNumber, SandboxAccount, new_sid
from relaykit_twilio_sandbox._records import SandboxMessage
from relaykit_twilio_sandbox._resources import API_VERSION
from relaykit_twilio_sandbox._segments import count_segments

__all__ = ["OPT_IN_KEYWORDS", "OPT_OUT_KEYWORDS", "InboundTarget", "receive"]

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})


@dataclass(frozen=True, slots=True)
class InboundTarget:
    """Where an inbound message goes: the webhook URL (``None``: none configured) and params."""

    message: SandboxMessage
    url: str | None
    params: dict[str, str]


def _opt_out_type(body: str) -> str | None:
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return "STOP"
    if word in OPT_IN_KEYWORDS:
        return "START"
    if word in HELP_KEYWORDS:
        return "HELP"
    return None


def receive(
    account: SandboxAccount,
    number: IncomingNumber,
    *,
    from_: str,
    to: str,
    body: str,
    media_urls: tuple[str, ...] = (),
) -> InboundTarget:
    """Record an inbound message to ``number`` and build the webhook Twilio would post."""
    now = datetime.now(UTC)
    service = account.service_of(number.phone_number)
    whatsapp = to.startswith("whatsapp:")
    message = SandboxMessage(
        sid=new_sid("MM" if media_urls else "SM"),
        account_sid=account.sid,
        to=to,
        from_=from_,
        body=body,
        status="received",
        direction="inbound",
        date_created=now,
        date_updated=now,
        date_sent=now,
        num_segments=1 if whatsapp else count_segments(body),
        media_urls=media_urls,
        messaging_service_sid=service.sid if service else None,
    )
    params = {
        "AccountSid": account.sid,
        "ApiVersion": API_VERSION,
        "Body": body,
        "From": from_,
        "MessageSid": message.sid,
        "NumMedia": str(len(media_urls)),
        "NumSegments": str(message.num_segments),
        "SmsMessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsStatus": "received",
        "To": to,
    }
    if service:
        params["MessagingServiceSid"] = service.sid
    for index, media_url in enumerate(media_urls):
        params[f"MediaUrl{index}"] = media_url
        params[f"MediaContentType{index}"] = mimetypes.guess_type(media_url)[0] or "image/jpeg"
    if whatsapp:
        account.sessions.open(number.phone_number, from_, now)
        params["WaId"] = from_.removeprefix("whatsapp:+")
        params["ProfileName"] = "Sandbox User"
        params["MessageType"] = "image" if media_urls else "text"
    else:
        kind = _opt_out_type(body)
        if kind:
            params["OptOutType"] = kind
            pair = (number.phone_number, from_)
            if kind == "STOP":
                account.opt_outs.add(pair)
            elif kind == "START":
                account.opt_outs.discard(pair)
    url = number.sms_url or (service.inbound_request_url if service else None)
    return InboundTarget(message, url, params)
