"""``TwilioConnector``: SMS and WhatsApp through the official twilio SDK.

One object per configured instance; it builds one SDK client (with
:class:`~relaykit_twilio._http.RelaykitHttpClient`) on first use and keeps
it until :meth:`TwilioConnector.aclose`. Importing this module imports neither
the SDK nor ``phonenumbers``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from relaykit.contract import (
    AuthenticationError,
    CallbackOutcome,
    CallbackParseError,
    CallbackRequest,
    CallbackVerificationError,
    Channel,
    ConnectionState,
    ConnectionStatus,
    ConnectorError,
    ConnectorSpec,
    InstanceConfig,
    OutboundMessage,
    PermanentSendError,
    ProviderTemplate,
    SenderCheck,
    SendReceipt,
    StatusUpdate,
    TransientSendError,
    load_spec_resource,
)
from relaykit.sms import MAX_BODY_CHARACTERS, count_segments
from relaykit_twilio.callbacks import (
    inbound_events,
    json_params,
    status_events,
    url_with_reference,
)
from relaykit_twilio.error_table import error_for_response, error_for_transport, parse_retry_after
from relaykit_twilio.numbers import InvalidNumberError, Recipient, normalize_number
from relaykit_twilio.senders import Sender, SenderKind, parse_sender, sender_problem
from relaykit_twilio.settings import TwilioSettings
from relaykit_twilio.signatures import FormParams, signs_body, verify_signature

if TYPE_CHECKING:
    from twilio.rest import Client  # type: ignore[import-untyped]

    from relaykit_twilio._http import RelaykitHttpClient

__all__ = ["TwilioConnector"]

T = TypeVar("T")
#: Twilio's shared WhatsApp Sandbox sender, usable by every account that joined it.
TWILIO_WHATSAPP_SANDBOX = "+14155238886"
#: A Content SID as Twilio's OpenAPI spec writes it (Messages create, ``ContentSid``).
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
#: WhatsApp sender statuses (Messaging v2 Channels Senders) that can send.
WHATSAPP_SENDING_STATUSES = frozenset({"ONLINE", "ONLINE:UPDATING"})
#: The role of the host's extra senders (``InstanceConfig.extra_senders``) in check reports.
POOL_ROLE = "two_way.sender_pool"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
_FIND_SENT_LIMIT = 100


class TwilioConnector:
    """A Twilio account configured for one tenant: sends, checks, and reads its webhooks.

    Besides the :class:`relaykit.Connector` methods it offers
    :meth:`fetch_status` (for a stuck-status sweeper) and :meth:`find_sent`
    (to reconcile a send whose outcome was lost).
    """

    name: ClassVar[str] = "twilio"
    contract_version: ClassVar[str] = "1.0"
    #: the one declaration of the settings (schema, defaults, checks)
    settings_model: ClassVar[type[TwilioSettings]] = TwilioSettings

    def __init__(self, config: InstanceConfig) -> None:
        """Read the settings; no I/O, no SDK import.

        :raises ConfigError: a setting is unusable, naming it and the fix.
        """
        self.config = config
        self.settings = TwilioSettings.from_config(config)
        self._http: RelaykitHttpClient | None = None
        self._client: Client | None = None

    def __repr__(self) -> str:
        return f"TwilioConnector({self.config.label!r}, account_sid={self.settings.account_sid!r})"

    # -- spec -----------------------------------------------------------------------------------

    @classmethod
    def spec(cls) -> ConnectorSpec:
        return load_spec_resource(__package__ or "relaykit_twilio")

    # -- the SDK client ---------------------------------------------------------------------------

    def _twilio(self) -> Client:
        """The one SDK client of this instance, built on first use."""
        if self._client is None:
            from twilio.rest import Client

            from relaykit_twilio._http import RelaykitHttpClient

            self._http = RelaykitHttpClient(
                api_base_url=self.settings.api_base_url,
                timeout=self.settings.request_timeout_seconds,
                max_connections=self.settings.max_connections,
            )
            self._client = Client(
                self.settings.account_sid,
                self.settings.auth_token.get_secret_value(),
                http_client=self._http,
            )
        return self._client

    async def _call(self, call: Callable[[Client], Awaitable[T]], *, creates: bool = False) -> T:
        """Run one SDK call and turn any failure into a relaykit error (see ``error_table``)."""
        import aiohttp
        from twilio.base.exceptions import (  # type: ignore[import-untyped]
            TwilioException,
            TwilioRestException,
            TwilioServiceException,
        )

        from relaykit_twilio._http import track_exchange

        client = self._twilio()
        with track_exchange() as exchange:
            try:
                return await call(client)
            except (TwilioRestException, TwilioServiceException) as exc:
                detail = getattr(exc, "detail", None) or getattr(exc, "msg", "")
                status, code = int(exc.status), exc.code if isinstance(exc.code, int) else None
                message = str(detail).partition(": ")[2] or str(detail)
            except TwilioException as exc:
                # List pages raise a bare TwilioException("Unable to fetch page", response).
                if exchange.status is None or exchange.status < 300:
                    raise
                status, code, message = exchange.status, *_error_body(exc)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise error_for_transport(exc, sent=exchange.sent, creates=creates) from exc
            raise error_for_response(
                status,
                code,
                message,
                retry_after=parse_retry_after(exchange.headers.get("Retry-After")),
                creates=creates,
            )

    async def aclose(self) -> None:
        """Close the SDK client's connection pool."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    # -- authenticate -------------------------------------------------------------------------

    async def authenticate(self) -> ConnectionStatus:
        """Fetch the account, then check every sender the instance will use; never raises.

        The senders are ``sms_sender``, ``whatsapp_sender`` and the host's
        ``config.extra_senders`` (the tenant's staff number pool), each
        reported as a :class:`SenderCheck`.
        """
        s = self.settings
        if s.sms_sender is None and s.whatsapp_sender is None:
            return ConnectionStatus(
                ConnectionState.MISCONFIGURED,
                "no sender configured: set sms_sender and/or whatsapp_sender",
            )
        try:
            account = await self._call(lambda c: c.api.v2010.accounts(s.account_sid).fetch_async())
            state = str(getattr(account.status, "value", account.status) or "").lower()
            if state in ("suspended", "closed"):
                return ConnectionStatus(
                    ConnectionState.ACCOUNT_SUSPENDED,
                    f"Twilio account {s.account_sid} is {state}; reactivate it in the Console",
                )
            checks = await asyncio.gather(  # a staff pool may hold dozens of numbers
                *(
                    self._check_sender(role, sender, whatsapp=whatsapp)
                    for role, sender, whatsapp in self._senders_in_use()
                )
            )
        except AuthenticationError as exc:
            return ConnectionStatus(
                ConnectionState.INVALID_CREDENTIALS,
                f"Twilio rejected the Account SID and Auth Token ({exc.provider_code or 401}); "
                "copy both again from the Twilio Console",
            )
        except TransientSendError as exc:
            return _unreachable(exc, s.api_base_url)
        except ConnectorError as exc:
            if exc.provider_code == "20404":
                return ConnectionStatus(
                    ConnectionState.INVALID_CREDENTIALS,
                    f"Twilio has no account {s.account_sid} for these credentials; "
                    "check account_sid",
                )
            return ConnectionStatus(ConnectionState.MISCONFIGURED, str(exc))
        except Exception as exc:  # a server that does not answer like Twilio: report, never raise
            return ConnectionStatus(
                ConnectionState.MISCONFIGURED,
                f"{s.api_base_url} did not answer like Twilio ({type(exc).__name__}); "
                "check api_base_url",
            )
        failed = [c for c in checks if not c.ok]
        if failed:
            return ConnectionStatus(
                ConnectionState.SENDER_NOT_VERIFIED,
                "; ".join(f"{c.role} {c.sender} {c.detail}" for c in failed),
                senders=tuple(checks),
            )
        return ConnectionStatus(
            ConnectionState.CONNECTED,
            f"account {s.account_sid} is active; "
            f"{' and '.join(f'{c.role} {c.sender}' for c in checks)} checked",
            senders=tuple(checks),
        )

    def _senders_in_use(self) -> list[tuple[str, Sender | str, bool]]:
        """(role, sender, whatsapp?) for every sender this instance will send from.

        A pool number that is not even a well-formed sender stays a string,
        and is reported as such.
        """
        s = self.settings
        found: list[tuple[str, Sender | str, bool]] = []
        if s.sms_sender is not None:
            found.append(("sms_sender", s.sms_sender, False))
        if s.whatsapp_sender is not None:
            found.append(("whatsapp_sender", s.whatsapp_sender, True))
        for value in self.config.extra_senders:
            try:
                found.append((POOL_ROLE, parse_sender(value), False))
            except ValueError:
                found.append((POOL_ROLE, value, False))
        return found

    async def _check_sender(
        self, role: str, sender: Sender | str, *, whatsapp: bool = False
    ) -> SenderCheck:
        """Whether ``sender`` can send for this account; ``detail`` follows "ROLE SENDER".

        A WhatsApp number must be an ONLINE sender in Twilio's WhatsApp
        Senders (Messaging v2; from any other a send fails with 63007), an
        SMS number one of the account's incoming numbers and SMS-capable
        (else 21606). Twilio's shared WhatsApp Sandbox number is nobody's.
        """
        sid = self.settings.account_sid
        if isinstance(sender, str):
            problem = sender_problem(sender) or "is not a usable sender"
            return SenderCheck(role, sender, False, problem.removeprefix(f"{sender!r} "))
        if whatsapp and sender.value == TWILIO_WHATSAPP_SANDBOX:
            return SenderCheck(role, sender.value, True, "is Twilio's shared WhatsApp Sandbox")
        if sender.kind is SenderKind.PHONE_NUMBER and whatsapp:
            return SenderCheck(role, sender.value, *await self._whatsapp_approval(sender.value))
        if sender.kind is SenderKind.PHONE_NUMBER:
            numbers = await self._call(
                lambda c: c.api.v2010.accounts(sid).incoming_phone_numbers.list_async(
                    phone_number=sender.value, limit=20
                )
            )
            owned = [n for n in numbers if n.phone_number == sender.value]
            if not owned:
                return SenderCheck(
                    role,
                    sender.value,
                    False,
                    f"is not a phone number of account {sid}; "
                    "buy or port it in the Twilio Console, or use one the account owns",
                )
            if not (owned[0].capabilities or {}).get("sms"):
                return SenderCheck(
                    role, sender.value, False, "is not SMS-capable; use a messaging number"
                )
            return SenderCheck(role, sender.value, True, f"is an SMS number of account {sid}")
        if sender.kind is SenderKind.MESSAGING_SERVICE:
            try:
                await self._call(lambda c: c.messaging.v1.services(sender.value).fetch_async())
            except PermanentSendError as exc:
                if exc.provider_code == "20404" or exc.provider_code is None:
                    return SenderCheck(
                        role, sender.value, False, f"is no Messaging Service of account {sid}"
                    )
                raise
            return SenderCheck(role, sender.value, True, f"is a Messaging Service of account {sid}")
        # an alphanumeric ID cannot be looked up; its form was checked
        return SenderCheck(role, sender.value, True, "is a well-formed alphanumeric sender ID")

    async def _whatsapp_approval(self, number: str) -> tuple[bool, str]:
        """(ok, detail) for ``number`` as a WhatsApp sender, from Twilio's Senders API."""
        sid = self.settings.account_sid
        try:
            senders = await self._call(
                lambda c: c.messaging.v2.channels_senders.list_async(
                    channel="whatsapp", page_size=50
                )
            )
        except (AuthenticationError, TransientSendError):
            raise
        except ConnectorError as exc:  # unchecked is not approved: say so, never "Connected"
            return False, (
                f"could not be checked: Twilio's WhatsApp Senders API refused the lookup "
                f"({exc.provider_code or 'no code'}: {exc}); check the account's access to "
                "Messaging > Senders in the Twilio Console"
            )
        status = next(
            (str(x.status or "") for x in senders if x.sender_id == f"whatsapp:{number}"), None
        )
        if status in WHATSAPP_SENDING_STATUSES:
            return True, f"is an approved WhatsApp sender of account {sid} ({status})"
        found = f"its status is {status}" if status else f"account {sid} has no such sender"
        return False, (
            f"is not an approved WhatsApp sender ({found}); sending from it "
            "fails with 63007 - register it under Messaging > Senders > WhatsApp senders in "
            "the Twilio Console and wait until it is Online"
        )

    # -- send ---------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Send one SMS or WhatsApp message; one API call, no retries.

        :raises PermanentSendError: bad recipient, country not allowed, body
            too long, no sender for the channel, or Twilio refused it for good.
        :raises OptOutError, RateLimitedError, TransientSendError,
            AmbiguousSendError, AuthenticationError: see ``error_table``.
        """
        channel = message.channel
        if channel not in (Channel.SMS, Channel.WHATSAPP):
            raise PermanentSendError(
                f"cannot send {channel.value} messages; it handles sms and whatsapp",
                connector=self.name,
            )
        self._check_body(message)
        recipient = self._recipient(message.to, channel)
        sender = self._sender(message)
        prefix = "whatsapp:" if channel == Channel.WHATSAPP else ""
        params: dict[str, Any] = {"to": prefix + recipient.e164}
        if sender.kind is SenderKind.MESSAGING_SERVICE:
            params["messaging_service_sid"] = sender.value
        else:
            params["from_"] = prefix + sender.value
        if message.template is not None:
            params.update(_content_params(message.template))
        elif message.body:
            params["body"] = message.body
        if message.media_urls:
            params["media_url"] = list(message.media_urls)
        if message.validity_period is not None:
            params["validity_period"] = message.validity_period
        callback = self._callback_url("status")
        if callback:
            params["status_callback"] = url_with_reference(callback, message.reference)
        record = await self._call(lambda c: c.messages.create_async(**params), creates=True)
        from relaykit_twilio._records import message_status

        sms = channel == Channel.SMS and message.template is None
        count = count_segments(message.body) if sms else None
        return SendReceipt(
            provider_message_id=str(record.sid),
            status=message_status(record.status),
            channel=channel,
            to=recipient.e164,
            segments=count.segments if count else None,
            encoding=count.encoding if count else None,
        )

    def _check_body(self, message: OutboundMessage) -> None:
        if message.template is not None:
            _check_template(message.template)
            return
        limit = min(self.settings.max_body_length, MAX_BODY_CHARACTERS)
        if not message.body and not message.media_urls:
            raise PermanentSendError("the message has no body and no media", connector=self.name)
        if len(message.body) > limit:
            raise PermanentSendError(
                f"the body is {len(message.body)} characters; this instance allows {limit} "
                "(setting max_body_length; Twilio's own limit is 1600) - shorten the message",
                connector=self.name,
            )
        if len(message.media_urls) > 10:
            raise PermanentSendError(
                f"{len(message.media_urls)} media URLs; Twilio accepts at most 10",
                connector=self.name,
            )

    def _recipient(self, to: str, channel: Channel) -> Recipient:
        try:
            recipient = normalize_number(to, channel, default_region=self.settings.default_region)
        except InvalidNumberError as exc:
            raise PermanentSendError(str(exc), connector=self.name) from None
        allowed = self.settings.allowed_countries
        if allowed is not None and recipient.country not in allowed:
            where = recipient.country or "a non-geographic number"
            raise PermanentSendError(
                f"recipient {recipient.e164} is in {where}, which is not in this instance's "
                f"allowed_countries ({', '.join(sorted(allowed))}); add it there and to the "
                "Twilio account's geographic permissions to send there",
                connector=self.name,
            )
        return recipient

    def _sender(self, message: OutboundMessage) -> Sender:
        whatsapp = message.channel == Channel.WHATSAPP
        if message.sender:
            try:
                sender = parse_sender(message.sender, whatsapp=whatsapp)
            except ValueError as exc:
                raise PermanentSendError(f"message sender {exc}", connector=self.name) from None
        else:
            configured = self.settings.whatsapp_sender if whatsapp else self.settings.sms_sender
            setting = "whatsapp_sender" if whatsapp else "sms_sender"
            if configured is None:
                raise PermanentSendError(
                    f"instance {self.config.label} has no {setting}; "
                    f"set it to send {message.channel.value} messages",
                    connector=self.name,
                )
            sender = configured
        if whatsapp and sender.kind is SenderKind.ALPHANUMERIC:
            raise PermanentSendError(
                "an alphanumeric sender ID cannot send WhatsApp messages", connector=self.name
            )
        return sender

    def _callback_base(self) -> str | None:
        override = self.settings.public_base_url
        if override:
            return f"{override}/webhooks/{self.config.tenant}/{self.config.name}"
        return self.config.callback_base_url

    def _callback_url(self, kind: str) -> str | None:
        base = self._callback_base()
        return f"{base}/{kind}" if base else None

    # -- callbacks ----------------------------------------------------------------------------

    async def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        """Verify ``X-Twilio-Signature`` over the public URL, then normalise the request.

        A request whose URL carries ``bodySHA256`` is verified over its raw
        body; a JSON one is then read as a flat object of Twilio's parameters.

        :raises CallbackVerificationError: missing, malformed or wrong signature.
        :raises CallbackParseError: verified, but not a status or inbound webhook.
        """
        url = self._signed_url(request)
        json_body = signs_body(url) and _is_json(request.content_type)
        try:
            items = [] if json_body or request.method.upper() != "POST" else request.form_items()
        except UnicodeDecodeError:
            raise CallbackVerificationError("twilio: the request body is not UTF-8") from None
        verify_signature(
            url=url,
            params=FormParams(items),
            headers=request.headers,
            auth_token=self.settings.auth_token.get_secret_value(),
            body=request.body,
        )
        if json_body:
            params = json_params(request.body)
        else:
            params = dict(items) if items else _query_params(url)
        if request.kind == "status":
            return CallbackOutcome(events=status_events(params, url))
        if request.kind == "inbound":
            return CallbackOutcome(
                events=inbound_events(params),
                response_body=EMPTY_TWIML,
                response_content_type="text/xml",
            )
        raise CallbackParseError(f"twilio: unknown webhook kind {request.kind!r}")

    def _signed_url(self, request: CallbackRequest) -> str:
        """The URL Twilio signed: ``request.url``, or its twin under ``public_base_url``."""
        if not self.settings.public_base_url:
            return request.url
        query = urlsplit(request.url).query
        base = f"{self._callback_url(request.kind)}"
        return f"{base}?{query}" if query else base

    # -- reconciliation -----------------------------------------------------------------------

    async def fetch_status(self, provider_message_id: str) -> StatusUpdate:
        """The message's current status at Twilio, as a status callback would report it.

        For a sweeper: Twilio retries a failed callback only once, so messages
        stuck in a non-final status are fetched. The ``dedupe_key`` equals the
        one the matching callback carries, so whichever arrives second is dropped.

        :raises PermanentSendError: no such message (20404).
        :raises TransientSendError, AuthenticationError: see ``error_table``.
        """
        from relaykit_twilio._records import message_status

        record = await self._call(lambda c: c.messages(provider_message_id).fetch_async())
        status = message_status(record.status)
        code = record.error_code
        return StatusUpdate(
            provider_message_id=str(record.sid),
            status=status,
            error_code=str(code) if code else None,
            error_message=record.error_message or None,
            dedupe_key=f"twilio:status:{record.sid}:{status.value}",
            occurred_at=record.date_updated,
        )

    async def find_sent(
        self,
        to: str,
        reference: str,
        since: datetime,
        *,
        body: str | None = None,
        sender: str | None = None,
        channel: Channel | None = None,
        template: ProviderTemplate | None = None,
    ) -> SendReceipt | None:
        """The message a lost ``send`` created, if Twilio has it; for crash reconciliation.

        Lists the Messages to ``to`` (newest first; the ``DateSent`` filter is
        not used because a message still queued has no DateSent, which is
        exactly the one a crash leaves behind) and picks the outbound record
        created since ``since`` from this instance's sender with this body.
        Twilio does not echo the StatusCallback URL that carries ``reference``,
        so the reference cannot be matched at Twilio; it is used by the host's
        callbacks instead.

        :param to: the recipient as given to ``send`` (``whatsapp:`` prefix or ``channel``).
        :param since: when the lost attempt started.
        :param body: the body sent; without it, several candidates are ambiguous.
        :param sender: the ``OutboundMessage.sender`` override used, if any.
        :param template: the provider template sent instead of ``body``, if any: Twilio's
            record then holds the template's text, so the record is the one *without*
            ``body`` (the session message the template replaced has it).
        :returns: a receipt for the record, or ``None`` when nothing was sent.
        :raises AmbiguousSendError: several records fit and no body was given.
        """
        from relaykit_twilio._records import Candidate, pick_sent

        if channel is None:
            whatsapp = to.strip().lower().startswith("whatsapp:")
            channel = Channel.WHATSAPP if whatsapp else Channel.SMS
        recipient = self._recipient(to, channel)
        chosen = self._sender(
            OutboundMessage(channel=channel, to=to, body=body or "", sender=sender)
        )
        prefix = "whatsapp:" if channel == Channel.WHATSAPP else ""
        records = await self._call(
            lambda c: c.messages.list_async(
                to=prefix + recipient.e164, limit=_FIND_SENT_LIMIT, page_size=50
            )
        )
        outbound = [r for r in records if str(r.direction or "").startswith("outbound")]
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        is_service = chosen.kind is SenderKind.MESSAGING_SERVICE
        match = pick_sent(
            [Candidate.of(r) for r in outbound],
            since=since,
            sender=None if is_service else prefix + chosen.value,
            messaging_service_sid=chosen.value if is_service else None,
            body=None if template is not None else body,
            not_body=body if template is not None else None,
        )
        if match is None:
            return None
        count = count_segments(match.body) if channel == Channel.SMS else None
        return SendReceipt(
            provider_message_id=match.sid,
            status=match.status,
            channel=channel,
            to=recipient.e164,
            segments=count.segments if count else None,
            encoding=count.encoding if count else None,
        )


def _check_template(template: ProviderTemplate) -> None:
    if not _CONTENT_SID.match(template.id):
        raise PermanentSendError(
            f"provider template {template.id!r} is not a Twilio Content SID (HX and 32 hex "
            "digits); name the approved template's Content SID in the event's "
            "provider_templates",
            connector=TwilioConnector.name,
        )


def _content_params(template: ProviderTemplate) -> dict[str, str]:
    """``content_sid`` and (when there are any) ``content_variables`` as a JSON object."""
    params = {"content_sid": template.id}
    if template.variables:
        params["content_variables"] = json.dumps(dict(template.variables), ensure_ascii=False)
    return params


def _error_body(exc: Exception) -> tuple[int | None, str]:
    """Twilio's error ``code`` and ``message`` from the response a page error carries."""
    import json

    response = exc.args[1] if len(exc.args) > 1 else None
    try:
        body = json.loads(getattr(response, "text", "") or "{}")
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message") or "")


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _query_params(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _unreachable(exc: TransientSendError, api_base_url: str) -> ConnectionStatus:
    import aiohttp

    if isinstance(exc.__cause__, aiohttp.ClientSSLError):
        return ConnectionStatus(
            ConnectionState.TLS_FAILURE,
            f"TLS with {api_base_url} failed ({type(exc.__cause__).__name__}); "
            "check the certificate and the system's CA bundle",
        )
    return ConnectionStatus(
        ConnectionState.UNREACHABLE, f"cannot reach Twilio at {api_base_url}: {exc}"
    )
