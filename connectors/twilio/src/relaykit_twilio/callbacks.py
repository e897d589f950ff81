"""Turning Twilio's (already verified) webhook parameters into relaykit events.

* **Status callbacks** (``MessageSid``, ``MessageStatus``, ``ErrorCode``,
  ``To``, ``From``) become a :class:`StatusUpdate` and nothing else: the host
  turns error 21610 into an opt-out only for a message it sent, so a callback
  about an unknown MessageSid cannot opt anyone out. The host's message
  reference rides in the StatusCallback URL's query string (``rk_ref``),
  which the signature covers.
* **Incoming messages** (``MessageSid``, ``From``, ``To``, ``Body``,
  ``NumMedia``/``MediaUrlN``) become an :class:`InboundMessage`; a body that is
  one of Twilio's opt-out or opt-in keywords, or an ``OptOutType`` parameter
  (Advanced Opt-Out), also becomes a :class:`ConsentChange`.

Every event's ``dedupe_key`` is built from *signed* parameters (MessageSid and
status or action). Twilio's ``I-Twilio-Idempotency-Token`` header is not
covered by the signature, so a replayer could change it; keying on it would
let a replayed STOP or START through (PITFALLS 8). Twilio's own retries and
captured replays carry the same MessageSid and status, so they collapse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from relaykit.contract import (
    CallbackEvent,
    CallbackParseError,
    Channel,
    ConsentChange,
    InboundMessage,
    MessageStatus,
    StatusUpdate,
)
from relaykit_twilio.error_table import CALLBACK_ERROR_DESCRIPTIONS
from relaykit_twilio.numbers import InvalidNumberError, normalize_number

__all__ = [
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "REFERENCE_PARAM",
    "consent_action",
    "inbound_events",
    "json_params",
    "reference_from_url",
    "status_events",
    "url_with_reference",
]

#: Twilio's default opt-out keywords (a body that is exactly one of them).
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
#: Twilio's default opt-in keywords.
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
#: Query parameter of the StatusCallback URL that carries the host's message reference.
REFERENCE_PARAM = "rk_ref"
_WHATSAPP = "whatsapp:"


def url_with_reference(url: str, reference: str) -> str:
    """``url`` with ``reference`` added as the ``rk_ref`` query parameter (if non-empty)."""
    if not reference:
        return url
    parts = urlsplit(url)
    query = (parts.query + "&" if parts.query else "") + urlencode({REFERENCE_PARAM: reference})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def reference_from_url(url: str) -> str | None:
    """The host's message reference carried in a StatusCallback URL, if any."""
    values = parse_qs(urlsplit(url).query).get(REFERENCE_PARAM)
    return values[0] if values else None


def consent_action(body: str, opt_out_type: str | None = None) -> str | None:
    """``opt_out``, ``opt_in`` or ``None`` for an incoming message.

    ``OptOutType`` (sent when the Messaging Service has Advanced Opt-Out,
    with its own keywords) wins over the default keywords; ``HELP`` is neither.
    """
    if opt_out_type:
        return {"STOP": "opt_out", "START": "opt_in"}.get(opt_out_type.strip().upper())
    word = body.strip().rstrip(".!").strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    return None


def json_params(body: bytes) -> dict[str, str]:
    """The parameters of a (verified) JSON webhook body: a flat object of Twilio's names.

    Scalars become the strings a form post would carry (``true``, ``3``);
    ``null`` means absent.

    :raises CallbackParseError: the body is not a JSON object.
    """
    try:
        document = json.loads(body.decode("utf-8"))
    except ValueError:
        raise CallbackParseError("twilio: the JSON webhook body is not valid JSON") from None
    if not isinstance(document, dict):
        raise CallbackParseError("twilio: the JSON webhook body is not a JSON object")
    params: dict[str, str] = {}
    for name, value in document.items():
        if value is None:
            continue
        params[name] = value if isinstance(value, str) else json.dumps(value)
    return params


def status_events(params: Mapping[str, str], url: str) -> tuple[CallbackEvent, ...]:
    """The events of a status callback.

    :param url: the URL Twilio called (it carries the reference).
    :raises CallbackParseError: a parameter is missing or unknown.
    """
    sid = _required(params, "MessageSid")
    raw_status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    try:
        status = MessageStatus(raw_status.strip().lower())
    except ValueError:
        raise CallbackParseError(
            f"twilio: status callback for {sid} has unknown MessageStatus {raw_status!r}"
        ) from None
    error_code = (params.get("ErrorCode") or "").strip() or None
    error_message = (params.get("ErrorMessage") or "").strip() or None
    if error_code and not error_message:
        error_message = CALLBACK_ERROR_DESCRIPTIONS.get(error_code)
    update = StatusUpdate(
        provider_message_id=sid,
        status=status,
        error_code=error_code,
        error_message=error_message,
        reference=reference_from_url(url),
        dedupe_key=f"twilio:status:{sid}:{status.value}",
    )
    return (update,)


def inbound_events(params: Mapping[str, str]) -> tuple[CallbackEvent, ...]:
    """The events of an incoming message.

    :raises CallbackParseError: a parameter is missing or malformed.
    """
    sid = _required(params, "MessageSid")
    channel, sender = _address(_required(params, "From"))
    _, recipient = _address(_required(params, "To"))
    body = params.get("Body", "")
    events: list[CallbackEvent] = [
        InboundMessage(
            provider_message_id=sid,
            channel=channel,
            sender=sender,
            recipient=recipient,
            body=body,
            media_urls=_media_urls(params, sid),
            dedupe_key=f"twilio:inbound:{sid}",
        )
    ]
    action = consent_action(body, params.get("OptOutType"))
    if action is not None:
        events.append(
            ConsentChange(
                action="opt_out" if action == "opt_out" else "opt_in",
                channel=channel,
                address=sender,
                instance_address=recipient,
                keyword=(params.get("OptOutType") or body).strip().upper(),
                dedupe_key=f"twilio:consent:{sid}:{action}",
            )
        )
    return tuple(events)


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise CallbackParseError(f"twilio: the callback has no {name} parameter")
    return value


def _address(value: str) -> tuple[Channel, str]:
    """The channel and the normalised address of a ``From``/``To`` value."""
    value = value.strip()
    channel = Channel.WHATSAPP if value.lower().startswith(_WHATSAPP) else Channel.SMS
    if channel == Channel.WHATSAPP:
        value = value[len(_WHATSAPP) :]
    if value.startswith("+"):
        try:
            return channel, normalize_number(value, channel).e164
        except InvalidNumberError:
            pass  # a short code or an unusual number: keep what Twilio sent
    return channel, value


def _media_urls(params: Mapping[str, str], sid: str) -> tuple[str, ...]:
    raw = params.get("NumMedia", "0").strip() or "0"
    if not raw.isdigit() or int(raw) > 10:
        raise CallbackParseError(f"twilio: incoming message {sid} has NumMedia {raw!r}")
    urls = []
    for index in range(int(raw)):
        url = params.get(f"MediaUrl{index}", "").strip()
        if not url:
            raise CallbackParseError(
                f"twilio: incoming message {sid} has NumMedia {raw} but no MediaUrl{index}"
            )
        urls.append(url)
    return tuple(urls)
