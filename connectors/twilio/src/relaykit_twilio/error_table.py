"""The one table that turns a Twilio failure into a relaykit error kind.

Twilio answers a refused request with an HTTP status and a JSON body holding
its own error ``code``. The host decides what to do from the *class* of the
error it gets (retry, wait, reconcile, fall back, record an opt-out, mark the
instance disconnected), so every failure is mapped here, in one place:

======================  =============  ==============================================
Twilio code / status    kind           raised as
======================  =============  ==============================================
10001, 20003, 20005,    auth           ``AuthenticationError`` (instance disconnected)
HTTP 401
21610                   opt_out        ``OptOutError`` (record the opt-out, fall back)
21211 21212 21408       permanent      ``PermanentSendError`` (fall back, never retry)
21602 21604 21606
21608 21612 21614
21617 21620 21623
21659 21660 21703
21705 20404 21655
21656 63003 63007
63014 63016
20429, 21611, 63018,    rate_limited   ``RateLimitedError(retry_after)`` from the
HTTP 429, HTTP 503                     raw ``Retry-After`` header (503 only with it)
with Retry-After
other HTTP 4xx          permanent      ``PermanentSendError``
HTTP 5xx on a read      transient      ``TransientSendError`` (nothing was created)
HTTP 5xx on create      ambiguous      ``AmbiguousSendError``: it may have been sent;
                                       reconcile (``find_sent``) before resending
connection refused,     transient      ``TransientSendError``: the request never left
DNS, TLS, connect
timeout
timeout or dropped      ambiguous      ``AmbiguousSendError`` on create (``Transient``
connection after the                   on a read)
request was sent
======================  =============  ==============================================

63016 (WhatsApp free-form message outside the 24-hour window) is permanent
for that WhatsApp message; its provider code tells the host why (fallback
reason ``outside_session_window``), so the router sends the event's approved
template (a Content SID) next when it has one, else falls back to SMS or email.
21655/21656 refuse a Content SID or Content Variables the account does not have.

Error codes that appear only in status callbacks (30001-30010, 63016 …) are
not raised: they arrive as ``StatusUpdate.error_code`` with
:data:`CALLBACK_ERROR_DESCRIPTIONS` as the message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from relaykit.contract import (
    AmbiguousSendError,
    AuthenticationError,
    ConnectorError,
    OptOutError,
    PermanentSendError,
    RateLimitedError,
    TransientSendError,
)

__all__ = [
    "CALLBACK_ERROR_DESCRIPTIONS",
    "ERROR_TABLE",
    "ErrorKind",
    "ErrorRule",
    "error_for_response",
    "error_for_transport",
    "parse_retry_after",
]

CONNECTOR = "twilio"


class ErrorKind(enum.StrEnum):
    """What a failure means for the host."""

    AUTH = "auth"
    OPT_OUT = "opt_out"
    PERMANENT = "permanent"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One row of the table: the kind and what it means, for people."""

    kind: ErrorKind
    meaning: str


#: Twilio error code → rule. Codes not listed fall back to the HTTP status.
ERROR_TABLE: Mapping[int, ErrorRule] = {
    10001: ErrorRule(ErrorKind.AUTH, "the Twilio account is not active (suspended or closed)"),
    20003: ErrorRule(ErrorKind.AUTH, "authentication failed: check account_sid and auth_token"),
    20005: ErrorRule(ErrorKind.AUTH, "the Twilio account is not active (suspended or closed)"),
    21610: ErrorRule(ErrorKind.OPT_OUT, "the recipient replied STOP to this sender"),
    20404: ErrorRule(ErrorKind.PERMANENT, "the resource was not found"),
    21211: ErrorRule(ErrorKind.PERMANENT, "the 'To' number is not a valid phone number"),
    21212: ErrorRule(ErrorKind.PERMANENT, "the 'From' number is not valid"),
    21408: ErrorRule(
        ErrorKind.PERMANENT, "sending to this region is not enabled (geographic permissions)"
    ),
    21602: ErrorRule(ErrorKind.PERMANENT, "the message body is required"),
    21604: ErrorRule(ErrorKind.PERMANENT, "the 'To' number is required"),
    21606: ErrorRule(
        ErrorKind.PERMANENT, "the 'From' number cannot send messages to this destination"
    ),
    21608: ErrorRule(ErrorKind.PERMANENT, "trial accounts can only send to verified numbers"),
    21612: ErrorRule(ErrorKind.PERMANENT, "the 'To' number cannot be reached by this route"),
    21614: ErrorRule(ErrorKind.PERMANENT, "the 'To' number is not a mobile number"),
    21617: ErrorRule(ErrorKind.PERMANENT, "the body exceeds 1600 characters"),
    21620: ErrorRule(ErrorKind.PERMANENT, "a media URL is invalid"),
    21623: ErrorRule(ErrorKind.PERMANENT, "too many media URLs (at most 10)"),
    21659: ErrorRule(ErrorKind.PERMANENT, "the 'From' number is not one of the account's numbers"),
    21660: ErrorRule(ErrorKind.PERMANENT, "the 'From' number belongs to another account"),
    21703: ErrorRule(ErrorKind.PERMANENT, "the Messaging Service has no phone numbers"),
    21705: ErrorRule(ErrorKind.PERMANENT, "the Messaging Service SID is invalid"),
    21655: ErrorRule(
        ErrorKind.PERMANENT, "the ContentSid is not a Content template of this account"
    ),
    21656: ErrorRule(ErrorKind.PERMANENT, "the ContentVariables are not a valid JSON object"),
    63003: ErrorRule(ErrorKind.PERMANENT, "the channel could not find the 'To' address"),
    63007: ErrorRule(
        ErrorKind.PERMANENT, "the channel could not find the 'From' address (WhatsApp sender)"
    ),
    63014: ErrorRule(ErrorKind.PERMANENT, "the recipient blocked messages from this sender"),
    63016: ErrorRule(
        ErrorKind.PERMANENT,
        "WhatsApp free-form message outside the 24-hour window; use a template or another channel",
    ),
    20429: ErrorRule(ErrorKind.RATE_LIMITED, "too many requests"),
    21611: ErrorRule(ErrorKind.RATE_LIMITED, "the sender's queue of outgoing messages is full"),
    63018: ErrorRule(ErrorKind.RATE_LIMITED, "the channel's rate limit was exceeded"),
}

#: Descriptions of the ErrorCode values Twilio puts in status callbacks.
CALLBACK_ERROR_DESCRIPTIONS: Mapping[str, str] = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
    "30009": "missing segment",
    "30010": "message price exceeds max price",
    "21610": "the recipient replied STOP to this sender",
    "63016": "WhatsApp free-form message outside the 24-hour window",
}

_KIND_CLASS: Mapping[ErrorKind, type[ConnectorError]] = {
    ErrorKind.AUTH: AuthenticationError,
    ErrorKind.OPT_OUT: OptOutError,
    ErrorKind.PERMANENT: PermanentSendError,
    ErrorKind.TRANSIENT: TransientSendError,
    ErrorKind.AMBIGUOUS: AmbiguousSendError,
}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_for_response(
    status: int,
    code: int | None,
    message: str,
    *,
    retry_after: float | None,
    creates: bool,
) -> ConnectorError:
    """The relaykit error for a Twilio error response.

    :param status: the HTTP status.
    :param code: Twilio's error code from the body, if any.
    :param message: Twilio's message, for the error text.
    :param retry_after: seconds from the response's ``Retry-After`` header.
    :param creates: the request creates a message (no idempotency key), so a
        5xx means it may have been sent.
    """
    kind, meaning = _classify(status, code, retry_after, creates)
    text = f"Twilio refused the request (HTTP {status}): {message or meaning}"
    provider_code = str(code) if code is not None else None
    if kind is ErrorKind.RATE_LIMITED:
        if retry_after is not None:
            text += f"; retry after {retry_after:g} s"
        return RateLimitedError(
            text, connector=CONNECTOR, provider_code=provider_code, retry_after=retry_after
        )
    return _KIND_CLASS[kind](text, connector=CONNECTOR, provider_code=provider_code)


def _classify(
    status: int, code: int | None, retry_after: float | None, creates: bool
) -> tuple[ErrorKind, str]:
    rule = ERROR_TABLE.get(code) if code is not None else None
    if rule is not None:
        return rule.kind, rule.meaning
    if status == 401:
        return ErrorKind.AUTH, "the credentials were rejected"
    if status == 429:
        return ErrorKind.RATE_LIMITED, "too many requests"
    if status == 503 and retry_after is not None:
        return ErrorKind.RATE_LIMITED, "Twilio is temporarily unavailable"
    if status >= 500:
        if creates:
            return ErrorKind.AMBIGUOUS, "server error; the message may have been sent"
        return ErrorKind.TRANSIENT, "server error"
    return ErrorKind.PERMANENT, "the request was refused"


def error_for_transport(exc: BaseException, *, sent: bool, creates: bool) -> ConnectorError:
    """The relaykit error for a request that got no HTTP answer.

    :param sent: the request had left (its headers were written) when it failed.
    :param creates: the request creates a message.
    """
    what = type(exc).__name__
    if sent and creates:
        return AmbiguousSendError(
            f"no answer from Twilio after the request was sent ({what}); "
            "the message may have been sent - reconcile before resending",
            connector=CONNECTOR,
        )
    if sent:
        return TransientSendError(
            f"no answer from Twilio ({what}); try again later", connector=CONNECTOR
        )
    return TransientSendError(
        f"could not reach Twilio ({what}); nothing was sent, try again later",
        connector=CONNECTOR,
    )
