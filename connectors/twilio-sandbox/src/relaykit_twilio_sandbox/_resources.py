"""Twilio's JSON shapes for the resources the sandbox serves.

Field names, types and formats follow the component schemas of Twilio's
official OpenAPI spec (``api.v2010.account``, ``api.v2010.account.message``,
``api.v2010.account.incoming_phone_number``, the ``List…Response`` pages) and,
for the Messaging Service, the ``messaging.v1.service`` resource. The
WhatsApp sender follows Messaging v2 Channels Senders (``/v2/Channels/Senders``),
which the shared spec copy (API v2010 only) lacks: its shape is the SDK's
``ChannelsSenderInstance`` and its ``meta``-style list page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from relaykit_twilio_sandbox._accounts import (
    IncomingNumber,
    MessagingService,
    SandboxAccount,
    WhatsAppSender,
)
from relaykit_twilio_sandbox._records import SandboxMessage

__all__ = [
    "account_json",
    "message_json",
    "number_json",
    "page_json",
    "service_json",
    "v2_page_json",
    "whatsapp_sender_json",
]

API_VERSION = "2010-04-01"


class _HasSid(Protocol):
    @property
    def sid(self) -> str: ...


_Row = TypeVar("_Row", bound=_HasSid)
_ROOT = f"/{API_VERSION}/Accounts"


def rfc2822(moment: datetime | None) -> str | None:
    """``Thu, 24 Aug 2023 05:01:45 +0000``, Twilio's 2010 API date format."""
    return format_datetime(moment) if moment else None


def iso8601(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def account_json(account: SandboxAccount) -> dict[str, Any]:
    """The Account resource. Like Twilio, it carries the account's own auth token."""
    base = f"{_ROOT}/{account.sid}"
    return {
        "auth_token": account.auth_token,
        "date_created": rfc2822(account.date_created),
        "date_updated": rfc2822(account.date_created),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.sid,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": {
            "addresses": f"{base}/Addresses.json",
            "applications": f"{base}/Applications.json",
            "available_phone_numbers": f"{base}/AvailablePhoneNumbers.json",
            "balance": f"{base}/Balance.json",
            "calls": f"{base}/Calls.json",
            "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
            "messages": f"{base}/Messages.json",
            "outgoing_caller_ids": f"{base}/OutgoingCallerIds.json",
            "usage": f"{base}/Usage.json",
        },
        "type": account.type,
        "uri": f"{base}.json",
    }


def number_json(account: SandboxAccount, number: IncomingNumber) -> dict[str, Any]:
    """An IncomingPhoneNumber resource."""
    return {
        "account_sid": account.sid,
        "address_sid": None,
        "address_requirements": "none",
        "api_version": API_VERSION,
        "beta": False,
        "capabilities": {
            "fax": number.fax,
            "mms": number.mms,
            "sms": number.sms,
            "voice": number.voice,
        },
        "date_created": rfc2822(number.date_created),
        "date_updated": rfc2822(number.date_created),
        "friendly_name": number.friendly_name,
        "identity_sid": None,
        "phone_number": number.phone_number,
        "origin": "twilio",
        "sid": number.sid,
        "sms_application_sid": None,
        "sms_fallback_method": "POST",
        "sms_fallback_url": None,
        "sms_method": "POST",
        "sms_url": number.sms_url,
        "status_callback": None,
        "status_callback_method": "POST",
        "trunk_sid": None,
        "uri": f"{_ROOT}/{account.sid}/IncomingPhoneNumbers/{number.sid}.json",
        "voice_receive_mode": "voice",
        "voice_application_sid": None,
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_url": None,
        "emergency_status": "Inactive",
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "bundle_sid": None,
        "status": "in-use",
        "type": "local",
    }


def message_json(message: SandboxMessage) -> dict[str, Any]:
    """A Message resource as it stands now."""
    uri = f"{_ROOT}/{message.account_sid}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_sent),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": str(len(message.media_urls)),
        "num_segments": str(message.num_segments),
        "price": message.price,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": message.to,
        "uri": f"{uri}.json",
    }


def service_json(
    base_url: str, account: SandboxAccount, service: MessagingService
) -> dict[str, Any]:
    """A Messaging Service (messaging v1): ISO 8601 dates and absolute URLs, unlike 2010."""
    url = f"{base_url}/v1/Services/{service.sid}"
    return {
        "sid": service.sid,
        "account_sid": account.sid,
        "friendly_name": service.friendly_name,
        "date_created": iso8601(service.date_created),
        "date_updated": iso8601(service.date_created),
        "inbound_request_url": service.inbound_request_url,
        "inbound_method": "POST",
        "fallback_url": None,
        "fallback_method": "POST",
        "status_callback": service.status_callback,
        "sticky_sender": True,
        "mms_converter": True,
        "smart_encoding": True,
        "scan_message_content": "inherit",
        "fallback_to_long_code": False,
        "area_code_geomatch": True,
        "synchronous_validation": True,
        "validity_period": 36000,
        "url": url,
        "links": {
            "phone_numbers": f"{url}/PhoneNumbers",
            "short_codes": f"{url}/ShortCodes",
            "alpha_senders": f"{url}/AlphaSenders",
            "messages": f"{url}/Messages",
            "us_app_to_person": f"{url}/Compliance/Usa2p",
            "us_app_to_person_usecases": f"{url}/Compliance/Usa2p/Usecases",
            "channel_senders": f"{url}/ChannelSenders",
        },
        "usecase": "notifications",
        "us_app_to_person_registered": False,
        "use_inbound_webhook_on_number": True,
    }


def whatsapp_sender_json(base_url: str, sender: WhatsAppSender) -> dict[str, Any]:
    """A WhatsApp sender (messaging v2 Channels Senders)."""
    return {
        "sid": sender.sid,
        "status": sender.status,
        "sender_id": sender.sender_id,
        "configuration": {
            "waba_id": "1234567890123456",
            "verification_method": "sms",
            "verification_code": None,
            "voice_application_sid": None,
        },
        "webhook": {
            "callback_url": None,
            "callback_method": "POST",
            "fallback_url": None,
            "fallback_method": "POST",
            "status_callback_url": None,
            "status_callback_method": "POST",
        },
        "profile": {"name": sender.display_name},
        "properties": {"quality_rating": "HIGH", "messaging_limit": "1K Customers/24hr"},
        "offline_reasons": None if sender.sends else [],
        "compliance": None,
        "url": f"{base_url}/v2/Channels/Senders/{sender.sid}",
    }


def v2_page_json(
    *,
    url: str,
    key: str,
    records: Sequence[_Row],
    render: Callable[[_Row], dict[str, Any]],
    filters: Sequence[tuple[str, str]],
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """One page of a v1/v2 list: the rows under ``key`` and a ``meta`` with absolute URLs."""
    rows = records[page * page_size : (page + 1) * page_size]

    def at(page_no: int) -> str:
        return f"{url}?{urlencode([*filters, ('PageSize', page_size), ('Page', page_no)])}"

    more = (page + 1) * page_size < len(records)
    return {
        key: [render(r) for r in rows],
        "meta": {
            "page": page,
            "page_size": page_size,
            "first_page_url": at(0),
            "previous_page_url": at(page - 1) if page > 0 else None,
            "url": at(page),
            "next_page_url": at(page + 1) if more else None,
            "key": key,
        },
    }


def page_json(
    *,
    path: str,
    key: str,
    records: Sequence[_Row],
    render: Callable[[_Row], dict[str, Any]],
    filters: Sequence[tuple[str, str]],
    page: int,
    page_size: int,
    page_token: str | None,
) -> dict[str, Any]:
    """One page of a 2010 list, paged like Twilio: ``PageToken`` names the last row seen.

    ``records`` is the whole filtered list in order; only the page's rows are
    rendered. A token ``PA<sid>`` starts after that row, ``PB<sid>`` ends before
    it; ``Page`` is client state that only travels along in the URIs.
    """
    start = 0
    if page_token and len(page_token) > 2:
        anchor = next((i for i, r in enumerate(records) if r.sid == page_token[2:]), None)
        if anchor is not None:
            start = anchor + 1 if page_token.startswith("PA") else max(0, anchor - page_size)
    rows = records[start : start + page_size]

    def uri(page_no: int, token: str | None) -> str:
        query = [*filters, ("PageSize", str(page_size)), ("Page", str(page_no))]
        if token:
            query.append(("PageToken", token))
        return f"{path}?{urlencode(query)}"

    has_next = start + page_size < len(records) and rows
    has_previous = start > 0 and rows
    return {
        "end": page * page_size + max(len(rows) - 1, 0),
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(page + 1, f"PA{rows[-1].sid}") if has_next else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(max(page - 1, 0), f"PB{rows[0].sid}") if has_previous else None,
        "start": page * page_size,
        "uri": uri(page, page_token),
        key: [render(r) for r in rows],
    }
