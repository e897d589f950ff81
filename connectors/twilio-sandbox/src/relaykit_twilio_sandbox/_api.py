"""The Twilio REST endpoints the sandbox serves, as aiohttp handlers.

``/2010-04-01/…`` (api.twilio.com), ``/v1/Services/…`` and ``/v2/Channels/Senders``
(messaging.twilio.com) live on one server: a connector rewrites every ``*.twilio.com`` host to it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from aiohttp import web

from relaykit_twilio_sandbox._accounts import IncomingNumber, SandboxAccount
from relaykit_twilio_sandbox._errors import TwilioApiError, error_body, not_found
from relaykit_twilio_sandbox._messaging import CreateRequest, build_message
from relaykit_twilio_sandbox._records import SandboxMessage
from relaykit_twilio_sandbox._resources import (
    account_json,
    message_json,
    number_json,
    page_json,
    service_json,
    v2_page_json,
    whatsapp_sender_json,
)

if TYPE_CHECKING:
    from relaykit_twilio_sandbox._server import TwilioSandbox

__all__ = ["TwilioRestApi"]

_ACCOUNTS = "/2010-04-01/Accounts"
_API_PREFIXES = ("/2010-04-01/", "/v1/", "/v2/")
_SENDERS = "/v2/Channels/Senders"
_MESSAGE_FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Dropped(Exception):
    """The handler closed the connection on purpose (a fault knob); nothing is answered."""


def _drop(request: web.Request) -> _Dropped:
    if request.transport is not None:
        request.transport.abort()
    return _Dropped()


def _parse_date_filter(name: str, raw: str) -> tuple[datetime, bool]:
    """A ``DateSent`` filter value as (moment, date-only?); Twilio takes dates or date-times."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=UTC), True
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        raise TwilioApiError(400, 20001, f"Invalid value for {name}: {raw}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False


def _page_args(request: web.Request) -> tuple[int, int, str | None]:
    try:
        page_size = min(max(int(request.query.get("PageSize", "50")), 1), 1000)
        page = max(int(request.query.get("Page", "0")), 0)
    except ValueError:
        raise TwilioApiError(400, 20001, "PageSize and Page must be integers") from None
    return page, page_size, request.query.get("PageToken")


class TwilioRestApi:
    """Handlers for the REST API, reading and writing the sandbox's state."""

    def __init__(self, sandbox: TwilioSandbox) -> None:
        self._sb = sandbox

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(_ACCOUNTS + "/{sid}.json", self.fetch_account),
            web.get(_ACCOUNTS + "/{sid}/IncomingPhoneNumbers.json", self.list_numbers),
            web.get(_ACCOUNTS + "/{sid}/IncomingPhoneNumbers/{pn}.json", self.fetch_number),
            web.post(_ACCOUNTS + "/{sid}/IncomingPhoneNumbers/{pn}.json", self.update_number),
            web.post(_ACCOUNTS + "/{sid}/Messages.json", self.create_message),
            web.get(_ACCOUNTS + "/{sid}/Messages.json", self.list_messages),
            web.get(_ACCOUNTS + "/{sid}/Messages/{msid}.json", self.fetch_message),
            web.get("/v1/Services/{mg}", self.fetch_service),
            web.get(_SENDERS, self.list_senders),
            web.get(_SENDERS + "/{xe}", self.fetch_sender),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Twilio-shaped errors and the latency knob, for the REST paths only."""
        if not request.path.startswith(_API_PREFIXES):
            return await handler(request)
        try:
            response = await handler(request)
        except TwilioApiError as exc:
            response = web.json_response(exc.body(), status=exc.status, headers=exc.headers)
        except web.HTTPNotFound:
            response = web.json_response(not_found(request.path).body(), status=404)
        except web.HTTPMethodNotAllowed:
            response = web.json_response(error_body(20004, "Method not allowed", 405), status=405)
        except _Dropped:
            return web.Response()  # the transport is already closed; this is never sent
        if self._sb.faults.latency_ms:
            await asyncio.sleep(self._sb.faults.latency_ms / 1000)
        return response

    # -- helpers ------------------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> SandboxAccount:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic" or not value:
            raise TwilioApiError(
                401,
                20003,
                "Authentication Error - No credentials provided",
                headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        try:
            username, _, password = base64.b64decode(value).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username, password = "", ""
        account = self._sb.accounts.get(username)
        if account is None or not hmac.compare_digest(
            account.auth_token.encode(), password.encode()
        ):
            raise TwilioApiError(
                401,
                20003,
                "Authentication Error - invalid username or password",
                headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        return account

    def _account(self, request: web.Request) -> SandboxAccount:
        """The authenticated account, which must be the one the path names."""
        account = self._authenticate(request)
        if request.match_info.get("sid") != account.sid:
            raise not_found(request.path)
        return account

    @staticmethod
    def _require_active(account: SandboxAccount) -> None:
        if account.status != "active":
            raise TwilioApiError(403, 10001, f"Account is not active (status: {account.status})")

    # -- accounts and numbers -----------------------------------------------------------------

    async def fetch_account(self, request: web.Request) -> web.Response:
        return web.json_response(account_json(self._account(request)))

    async def list_numbers(self, request: web.Request) -> web.Response:
        account = self._account(request)
        numbers = list(account.numbers)
        filters: list[tuple[str, str]] = []
        if wanted := request.query.get("PhoneNumber"):
            pattern = re.compile(re.escape(wanted).replace(r"\*", r"\d"))
            numbers = [n for n in numbers if pattern.search(n.phone_number)]
            filters.append(("PhoneNumber", wanted))
        if name := request.query.get("FriendlyName"):
            numbers = [n for n in numbers if n.friendly_name == name]
            filters.append(("FriendlyName", name))
        page, page_size, token = _page_args(request)
        return web.json_response(
            page_json(
                path=f"{_ACCOUNTS}/{account.sid}/IncomingPhoneNumbers.json",
                key="incoming_phone_numbers",
                records=numbers,
                render=lambda n: number_json(account, n),
                filters=filters,
                page=page,
                page_size=page_size,
                page_token=token,
            )
        )

    def _number(self, request: web.Request, account: SandboxAccount) -> IncomingNumber:
        number = next((n for n in account.numbers if n.sid == request.match_info["pn"]), None)
        if number is None:
            raise not_found(request.path)
        return number

    async def fetch_number(self, request: web.Request) -> web.Response:
        account = self._account(request)
        return web.json_response(number_json(account, self._number(request, account)))

    async def update_number(self, request: web.Request) -> web.Response:
        """Set ``SmsUrl`` / ``FriendlyName`` of a number, as the console or the SDK would."""
        account = self._account(request)
        number = self._number(request, account)
        form = await request.post()
        if "SmsUrl" in form:
            number.sms_url = str(form["SmsUrl"]) or None
        if "FriendlyName" in form:
            number.friendly_name = str(form["FriendlyName"])
        return web.json_response(number_json(account, number))

    # -- messages -----------------------------------------------------------------------------

    async def create_message(self, request: web.Request) -> web.Response:
        account = self._account(request)
        self._require_active(account)
        sb = self._sb
        sb.create_attempts += 1
        faults = sb.faults
        if faults.take("rate_limit_creates"):
            raise TwilioApiError(
                429, 20429, "Too Many Requests", headers={"Retry-After": str(faults.retry_after)}
            )
        if faults.take("fail_creates"):
            raise self._server_error(faults.fail_status)
        if faults.take("drop_creates"):
            raise _drop(request)
        form = await request.post()
        fields = {k: str(v) for k, v in form.items() if k != "MediaUrl"}
        media = tuple(str(v) for v in form.getall("MediaUrl", []))
        create = CreateRequest.from_form(fields, media)
        message = build_message(account, create, faults.queue_ms / 1000)
        sb.record(account, message)
        if faults.take("fail_after_create"):
            raise self._server_error(faults.fail_status)
        if faults.take("drop_after_create"):
            raise _drop(request)
        return web.json_response(message_json(message), status=201)

    @staticmethod
    def _server_error(status: int) -> TwilioApiError:
        if status == 503:
            return TwilioApiError(503, 20503, "Service Unavailable")
        return TwilioApiError(500, 20500, "Internal Server Error")

    async def fetch_message(self, request: web.Request) -> web.Response:
        account = self._account(request)
        message = self._sb.message(request.match_info["msid"])
        if message is None or message.account_sid != account.sid:
            raise not_found(request.path)
        return web.json_response(message_json(message))

    async def list_messages(self, request: web.Request) -> web.Response:
        """Newest first, filtered by To, From and DateSent (=, <, >), paged by token."""
        account = self._account(request)
        query = request.query
        filters = [(k, query[k]) for k in _MESSAGE_FILTERS if k in query]
        checks: list[Callable[[SandboxMessage], bool]] = []
        for key, value in filters:
            if key in ("To", "From"):
                checks.append(_address_check(key, value))
            else:
                checks.append(_date_check(key, *_parse_date_filter(key, value)))
        records = [
            m
            for m in reversed(self._sb.messages_of(account.sid))
            if all(check(m) for check in checks)
        ]
        page, page_size, token = _page_args(request)
        return web.json_response(
            page_json(
                path=f"{_ACCOUNTS}/{account.sid}/Messages.json",
                key="messages",
                records=records,
                render=message_json,
                filters=filters,
                page=page,
                page_size=page_size,
                page_token=token,
            )
        )

    # -- messaging services -------------------------------------------------------------------

    async def fetch_service(self, request: web.Request) -> web.Response:
        account = self._authenticate(request)
        service = account.service(request.match_info["mg"])
        if service is None:
            raise not_found(request.path)
        return web.json_response(service_json(self._sb.url, account, service))

    # -- WhatsApp senders (messaging v2 Channels Senders) ---------------------------------------

    async def list_senders(self, request: web.Request) -> web.Response:
        """The account's senders of ``Channel`` (required, as on Twilio; only whatsapp here)."""
        account = self._authenticate(request)
        channel = request.query.get("Channel", "")
        if not channel:
            raise TwilioApiError(400, 20001, "Missing required parameter Channel in the query")
        senders = account.whatsapp_senders if channel.lower() == "whatsapp" else []
        page, page_size, _ = _page_args(request)
        return web.json_response(
            v2_page_json(
                url=self._sb.url + _SENDERS,
                key="senders",
                records=senders,
                render=lambda s: whatsapp_sender_json(self._sb.url, s),
                filters=[("Channel", channel)],
                page=page,
                page_size=page_size,
            )
        )

    async def fetch_sender(self, request: web.Request) -> web.Response:
        account = self._authenticate(request)
        sender = next(
            (s for s in account.whatsapp_senders if s.sid == request.match_info["xe"]), None
        )
        if sender is None:
            raise not_found(request.path)
        return web.json_response(whatsapp_sender_json(self._sb.url, sender))


def _address_check(key: str, wanted: str) -> Callable[[SandboxMessage], bool]:
    if key == "To":
        return lambda m: m.to == wanted
    return lambda m: m.from_ == wanted


def _date_check(key: str, moment: datetime, date_only: bool) -> Callable[[SandboxMessage], bool]:
    """Twilio's DateSent filters: ``DateSent<`` is on or before, ``DateSent>`` on or after,
    ``DateSent`` the same day.

    A message not sent yet (``date_sent`` null) matches none of them, as on Twilio.
    """

    def value(m: SandboxMessage) -> datetime | date | None:
        if m.date_sent is None:
            return None
        return m.date_sent.date() if date_only else m.date_sent

    bound: datetime | date = moment.date() if date_only else moment
    if key == "DateSent<":
        return lambda m: (v := value(m)) is not None and v <= bound
    if key == "DateSent>":
        return lambda m: (v := value(m)) is not None and v >= bound
    # `DateSent=` names a day; the SDK sends a date as midnight, so compare days
    return lambda m: m.date_sent is not None and m.date_sent.date() == moment.date()
