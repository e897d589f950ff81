"""Twilio's rules for creating a message, applied to one account: what is refused and why.

The order of the checks follows Twilio's: required parameters, the recipient
(magic numbers, format), then the sender (magic numbers, ownership,
capability, channel), then the opt-out registry, then the Content template
(``ContentSid``: 21655 when the account has none of that SID), then
``ValidityPeriod`` (whole seconds, 1-36000, else 90007). A WhatsApp message
outside the 24-hour window, when the account models it, is created and then
fails with 63016 (see ``_content``); a message that waits in the outgoing queue
(``queue_ms``) longer than its ``ValidityPeriod`` is created and then fails
with 30036 "Validity Period Expired", Twilio's check when it dequeues a message
(https://www.twilio.com/docs/api/errors/30036).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from relaykit_twilio_sandbox._accounts import SandboxAccount, new_sid
from relaykit_twilio_sandbox._content import (
    WINDOW_CLOSED_CODE,
    ContentTemplate,
    parse_content_variables,
)
from relaykit_twilio_sandbox._errors import TwilioApiError
from relaykit_twilio_sandbox._magic import Step, delivery_steps, from_rejection, to_rejection
from relaykit_twilio_sandbox._records import SandboxMessage
from relaykit_twilio_sandbox._segments import count_segments

__all__ = ["CreateRequest", "build_message", "is_alphanumeric_sender", "pool_sender"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MAX_BODY = 1600
#: Twilio's ValidityPeriod range, in seconds (the OpenAPI spec: 1 to 36000, the default)
VALIDITY_PERIOD = (1, 36000)
VALIDITY_EXPIRED_CODE = 30036


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """The parameters of a Messages-create call the sandbox looks at."""

    to: str | None
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    media_urls: tuple[str, ...]
    status_callback: str | None
    content_sid: str | None = None
    content_variables: str | None = None
    validity_period: str | None = None

    @classmethod
    def from_form(cls, get: dict[str, str], media_urls: Sequence[str]) -> CreateRequest:
        return cls(
            to=get.get("To") or None,
            from_=get.get("From") or None,
            messaging_service_sid=get.get("MessagingServiceSid") or None,
            body=get.get("Body"),
            media_urls=tuple(media_urls),
            status_callback=get.get("StatusCallback") or None,
            content_sid=get.get("ContentSid") or None,
            content_variables=get.get("ContentVariables"),
            validity_period=get.get("ValidityPeriod") or None,
        )


def is_alphanumeric_sender(value: str) -> bool:
    """1-11 ASCII letters, digits and spaces, at least one letter (Twilio's sender-ID rule)."""
    return bool(_ALPHANUMERIC.match(value))


def _bad_request(code: int, message: str) -> TwilioApiError:
    return TwilioApiError(400, code, message)


def _check_required(req: CreateRequest) -> str:
    if not req.to:
        raise _bad_request(21604, "A 'To' phone number is required.")
    if not req.from_ and not req.messaging_service_sid:
        raise _bad_request(21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
    if not req.body and not req.media_urls and not req.content_sid:
        raise _bad_request(21602, "Message body is required.")
    if req.body and len(req.body) > MAX_BODY:
        raise _bad_request(
            21617, f"The concatenated message body exceeds the {MAX_BODY} character limit."
        )
    return req.to


def _check_recipient(to: str, template: ContentTemplate | None) -> None:
    rejection = to_rejection(to)
    approved = template is not None and template.whatsapp_approved
    if rejection and not (rejection.code == WINDOW_CLOSED_CODE and approved):
        raise TwilioApiError(rejection.status, rejection.code, rejection.message)
    if not _E164.match(to.removeprefix("whatsapp:")):
        raise _bad_request(21211, f"The 'To' number {to} is not a valid phone number.")


def _check_sender(account: SandboxAccount, req: CreateRequest, to: str) -> str | None:
    """The sending address, or ``None`` when a Messaging Service will pick one later."""
    whatsapp = to.startswith("whatsapp:")
    if req.messaging_service_sid and not req.from_:
        service = account.service(req.messaging_service_sid)
        if service is None:
            raise _bad_request(
                21701, f"The Messaging Service {req.messaging_service_sid} does not exist."
            )
        if not service.sender_pool:
            raise _bad_request(21703, "The Messaging Service has no senders in its pool.")
        return None
    from_ = req.from_ or ""
    rejection = from_rejection(from_)
    if rejection:
        raise TwilioApiError(rejection.status, rejection.code, rejection.message)
    if from_.startswith("whatsapp:") != whatsapp:
        raise _bad_request(
            21910, "Invalid From and To pair. From and To should be of the same channel."
        )
    if whatsapp:
        sender = account.whatsapp_sender(from_)
        if sender is None or not sender.sends:
            raise _bad_request(
                63007, f"Twilio could not find a Channel with the specified From address {from_}."
            )
        return from_
    if account.allow_alphanumeric_sender and is_alphanumeric_sender(from_):
        return from_
    number = account.number(from_)
    if number is None or not number.sms:
        raise _bad_request(
            21606,
            f"The 'From' phone number provided ({from_}) is not a valid message-capable "
            "Twilio phone number for this destination/account.",
        )
    return from_


def pool_sender(account: SandboxAccount, service_sid: str) -> str:
    """The number a Messaging Service sends from: the first of its pool (no sticky sender)."""
    service = account.service(service_sid)
    return service.sender_pool[0] if service and service.sender_pool else ""


def _check_consent(account: SandboxAccount, sender: str, to: str) -> None:
    if (sender.removeprefix("whatsapp:"), to.removeprefix("whatsapp:")) in account.opt_outs:
        raise _bad_request(21610, f"Attempt to send to unsubscribed recipient {to}.")


def _content(account: SandboxAccount, req: CreateRequest) -> ContentTemplate | None:
    if req.content_sid is None:
        return None
    template = account.content(req.content_sid)
    if template is None:
        raise _bad_request(21655, f"The Content SID {req.content_sid} is invalid.")
    return template


def _validity_period(req: CreateRequest) -> int | None:
    if req.validity_period is None:
        return None
    low, high = VALIDITY_PERIOD
    try:
        period = int(req.validity_period)
    except ValueError:
        period = 0
    if not low <= period <= high:
        raise _bad_request(
            90007,
            f"Invalid validity period value {req.validity_period!r}: use whole seconds "
            f"from {low} to {high}.",
        )
    return period


def _steps(
    account: SandboxAccount,
    to: str,
    sender: str,
    template: ContentTemplate | None,
    now: datetime,
    expired: bool = False,
) -> tuple[Step, ...]:
    """The later statuses: Twilio's ``failed`` 30036 for a message that outwaited its
    validity period in the queue, 63016 outside a modelled window, else the usual."""
    if expired:
        return (Step("failed", VALIDITY_EXPIRED_CODE),)
    free_form = template is None or not template.whatsapp_approved
    if (
        to.startswith("whatsapp:")
        and account.whatsapp_session_window
        and free_form
        and not account.sessions.is_open(sender, to, now)
    ):
        return (Step("failed", WINDOW_CLOSED_CODE),)
    return delivery_steps(to)


def build_message(
    account: SandboxAccount, req: CreateRequest, queue_seconds: float = 0.0
) -> SandboxMessage:
    """A new outbound message, or the ``TwilioApiError`` Twilio would answer instead.

    :param queue_seconds: how long it waits in the outgoing queue before it leaves.
    """
    to = _check_required(req)
    template = _content(account, req)
    validity = _validity_period(req)
    _check_recipient(to, template)
    from_ = _check_sender(account, req, to)
    sender = from_ or pool_sender(account, req.messaging_service_sid or "")
    _check_consent(account, sender, to)
    variables = parse_content_variables(req.content_variables) if template else {}
    now = datetime.now(UTC)
    expired = validity is not None and queue_seconds > validity
    body = template.render(variables) if template else req.body or ""
    return SandboxMessage(
        sid=new_sid("MM" if req.media_urls else "SM"),
        account_sid=account.sid,
        to=to,
        from_=from_,
        body=body,
        status="queued" if from_ else "accepted",
        direction="outbound-api",
        date_created=now,
        date_updated=now,
        num_segments=1 if to.startswith("whatsapp:") else count_segments(body),
        media_urls=req.media_urls,
        messaging_service_sid=req.messaging_service_sid,
        status_callback=req.status_callback,
        steps=_steps(account, to, sender, template, now, expired),
        content_sid=template.sid if template else None,
        validity_period=validity,
        queue_seconds=queue_seconds,
    )
