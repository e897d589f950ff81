"""The sandbox's own control endpoints under ``/_sandbox`` (no auth: it binds to loopback).

=====================================  ==========================================================
``GET /_sandbox``                      what this sandbox is: URL, default credentials, accounts
``GET /_sandbox/messages``             every message created or received (``?to=`` filters),
                                       plus ``create_attempts`` (create calls, faulted ones too)
``DELETE /_sandbox/messages``          forget messages, callbacks and the attempt count
``GET /_sandbox/callbacks``            every webhook posted, in order, with the receiver's status
``GET /_sandbox/faults``               the fault knobs
``POST /_sandbox/faults``              set knobs (JSON object or form), e.g. ``fail_creates=2``
``DELETE /_sandbox/faults``            reset every knob
``POST /_sandbox/inbound``             simulate an inbound message: ``From``, ``To``, ``Body``,
                                       ``MediaUrl`` (repeatable); posts the signed webhook to
                                       the number's SmsUrl and answers with what happened; a
                                       WhatsApp one opens the 24-hour window
``GET /_sandbox/content``              the default account's Content templates
``POST /_sandbox/content``             add one (JSON): ``body``, optional ``sid`` (``HX…``),
                                       ``friendly_name``, ``whatsapp_approved`` (default true),
                                       ``defaults``; answers with it, SID included
``GET /_sandbox/options``              the default account's options
``POST /_sandbox/options``             set them (JSON): ``whatsapp_session_window`` (bool)
=====================================  ==========================================================
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from relaykit_twilio_sandbox._content import ContentTemplate
from relaykit_twilio_sandbox._errors import TwilioApiError

if TYPE_CHECKING:
    from relaykit_twilio_sandbox._server import TwilioSandbox

__all__ = ["ControlApi"]

_PREFIX = "/_sandbox"
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_OPTIONS = ("whatsapp_session_window",)


async def _read_fields(request: web.Request) -> tuple[dict[str, Any], list[str]]:
    """The request's fields (JSON object or form) and its repeated ``MediaUrl`` values."""
    if request.content_type == "application/json":
        data = await request.json()
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        media = data.pop("MediaUrl", [])
        return data, [media] if isinstance(media, str) else list(media)
    form = await request.post()
    fields = {k: str(v) for k, v in form.items() if k != "MediaUrl"}
    return fields, [str(v) for v in form.getall("MediaUrl", [])]


class ControlApi:
    """Handlers of ``/_sandbox/*``: inspect records, set faults, simulate inbound messages."""

    def __init__(self, sandbox: TwilioSandbox) -> None:
        self._sb = sandbox

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(_PREFIX, self.info),
            web.get(_PREFIX + "/messages", self.list_messages),
            web.delete(_PREFIX + "/messages", self.clear_messages),
            web.get(_PREFIX + "/callbacks", self.list_callbacks),
            web.get(_PREFIX + "/faults", self.get_faults),
            web.post(_PREFIX + "/faults", self.set_faults),
            web.delete(_PREFIX + "/faults", self.reset_faults),
            web.post(_PREFIX + "/inbound", self.inbound),
            web.get(_PREFIX + "/content", self.list_content),
            web.post(_PREFIX + "/content", self.add_content),
            web.get(_PREFIX + "/options", self.get_options),
            web.post(_PREFIX + "/options", self.set_options),
        ]

    async def info(self, request: web.Request) -> web.Response:
        sb = self._sb
        return web.json_response(
            {
                "url": sb.url,
                "account_sid": sb.account_sid,
                "auth_token": sb.auth_token,
                "accounts": sorted(sb.accounts),
                "callback_delay": sb.callback_delay,
            }
        )

    async def list_messages(self, request: web.Request) -> web.Response:
        to = request.query.get("to")
        rows = [m.as_dict() for m in self._sb.messages if to is None or m.to == to]
        return web.json_response({"messages": rows, "create_attempts": self._sb.create_attempts})

    async def clear_messages(self, request: web.Request) -> web.Response:
        self._sb.clear()
        return web.json_response({"messages": [], "create_attempts": 0})

    async def list_callbacks(self, request: web.Request) -> web.Response:
        return web.json_response({"callbacks": [c.as_dict() for c in self._sb.callbacks]})

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._sb.faults.as_dict())

    async def set_faults(self, request: web.Request) -> web.Response:
        fields, _ = await _read_fields(request)
        try:
            self._sb.faults.update(**fields)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self._sb.faults.as_dict())

    async def reset_faults(self, request: web.Request) -> web.Response:
        self._sb.faults.reset()
        return web.json_response(self._sb.faults.as_dict())

    async def inbound(self, request: web.Request) -> web.Response:
        fields, media = await _read_fields(request)
        missing = [k for k in ("From", "To") if not fields.get(k)]
        if missing:
            return web.json_response({"error": f"missing {', '.join(missing)}"}, status=400)
        try:
            message = await self._sb.simulate_inbound(
                str(fields["From"]), str(fields["To"]), str(fields.get("Body", "")), media
            )
        except TwilioApiError as exc:
            return web.json_response({"error": exc.message}, status=exc.status)
        webhook = message.callbacks[0].as_dict() if message.callbacks else None
        return web.json_response({"message": message.as_dict(), "webhook": webhook})

    async def list_content(self, request: web.Request) -> web.Response:
        templates = self._sb.default_account.content_templates
        return web.json_response({"content": [t.as_dict() for t in templates]})

    async def add_content(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        try:
            template = _content_template(data)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self._sb.default_account.add_content(template)
        return web.json_response(template.as_dict(), status=201)

    async def get_options(self, request: web.Request) -> web.Response:
        return web.json_response(self._options())

    async def set_options(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        for key, value in data.items():
            if key not in _OPTIONS:
                return web.json_response(
                    {"error": f"unknown option {key!r}; use {', '.join(_OPTIONS)}"}, status=400
                )
            if not isinstance(value, bool):
                return web.json_response({"error": f"{key} must be true or false"}, status=400)
        account = self._sb.default_account
        if "whatsapp_session_window" in data:
            account.whatsapp_session_window = data["whatsapp_session_window"]
        return web.json_response(self._options())

    def _options(self) -> dict[str, object]:
        return {"whatsapp_session_window": self._sb.default_account.whatsapp_session_window}


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="expected a JSON object") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return data


def _content_template(data: dict[str, Any]) -> ContentTemplate:
    """A template from ``POST /_sandbox/content``'s JSON; a ``ValueError`` says what is off."""
    unknown = set(data) - {"sid", "body", "friendly_name", "whatsapp_approved", "defaults"}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    body = data.get("body")
    if not isinstance(body, str) or not body:
        raise ValueError("body: give the template's text, e.g. 'Hello {{1}}'")
    approved = data.get("whatsapp_approved", True)
    if not isinstance(approved, bool):
        raise ValueError("whatsapp_approved must be true or false")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or not all(isinstance(v, str) for v in defaults.values()):
        raise ValueError("defaults must be an object of text values")
    template = ContentTemplate(
        body=body,
        friendly_name=str(data.get("friendly_name", "")),
        whatsapp_approved=approved,
        defaults={str(k): v for k, v in defaults.items()},
    )
    if "sid" in data:
        sid = data["sid"]
        if not isinstance(sid, str) or not _CONTENT_SID.match(sid):
            raise ValueError("sid must be HX followed by 32 hex digits")
        template.sid = sid
    return template
