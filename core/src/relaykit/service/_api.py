"""The JSON API for workflow engines: ``/v1/...``, one tenant per API key."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from relaykit._kinds import KIND_PATTERN
from relaykit.delivery import IdempotencyKeyReusedError, NotPermittedError, Relay
from relaykit.errors import ConfigError
from relaykit.policy import Route
from relaykit.results import Channel
from relaykit.service._auth import ApiKeys
from relaykit.service._body import BodyTooLarge, MalformedLength, read_body
from relaykit.service._connections import ConnectionCache
from relaykit.service._documents import OpenApiDocuments
from relaykit.service._models import NotificationRequest, PreviewRequest, describe_errors
from relaykit.service._responses import RequestRefused, error, json_response
from relaykit.store import MessageRecord
from relaykit.templates import EventSpec, TemplateError, UnknownEventError

__all__ = ["JsonApi"]

M = TypeVar("M", bound=BaseModel)
_MAX_IDEMPOTENCY_KEY = 255
_MAX_LIMIT = 500
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


class JsonApi:
    """The ``/v1`` endpoints; each method is a Starlette endpoint."""

    def __init__(
        self,
        relay: Relay,
        keys: ApiKeys,
        connections: ConnectionCache,
        documents: OpenApiDocuments,
    ) -> None:
        self._relay = relay
        self._keys = keys
        self._connections = connections
        self._documents = documents
        self._max_body = relay.host.settings.service.max_body_bytes

    # -- plumbing ------------------------------------------------------------------------------

    def _tenant(self, request: Request, *query: str) -> str:
        """The key's tenant (else 401); then refuse query parameters other than ``query``."""
        tenant = self._keys.tenant_for(request.headers.get("authorization"))
        if tenant is None:
            raise RequestRefused(
                error(
                    401,
                    "unauthorized",
                    "send a tenant API key as 'Authorization: Bearer <key>'",
                    headers={"WWW-Authenticate": 'Bearer realm="relaykit"'},
                )
            )
        unknown = sorted(set(request.query_params) - set(query))
        if unknown:
            known = ", ".join(query) or "none"
            raise RequestRefused(
                error(
                    422,
                    "invalid_request",
                    f"unknown query parameter {unknown[0]!r} (known here: {known})",
                    fields=[
                        {"field": name, "message": "unknown query parameter"} for name in unknown
                    ],
                )
            )
        return tenant

    #: the same rule, for the endpoints of other modules (``/v1/broadcasts``)
    authorize = _tenant

    async def _body(self, request: Request, model: type[M]) -> M:
        """The JSON body as ``model``, validated strictly (``0`` is no date, ``"1"`` no number)."""
        try:
            raw = await read_body(request, self._max_body)
        except BodyTooLarge as exc:
            raise RequestRefused(error(413, "too_large", str(exc))) from None
        except MalformedLength as exc:
            raise RequestRefused(error(400, "bad_request", str(exc))) from None
        try:
            return model.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise RequestRefused(
                    error(400, "bad_request", "the body is not valid JSON")
                ) from None
            fields = describe_errors(exc)
            summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
            raise RequestRefused(error(422, "invalid_request", summary, fields=fields)) from None

    # -- endpoints -----------------------------------------------------------------------------

    async def notify(self, request: Request) -> Response:
        """``POST /v1/notifications``: send (201), or return the earlier delivery (200)."""
        tenant = self._tenant(request)
        notification = await self._body(request, NotificationRequest)
        if notification.tenant is not None and notification.tenant != tenant:
            return error(403, "forbidden", "this API key may only notify its own tenant")
        key = _idempotency_key(request)
        try:
            record = await self._relay.anotify(
                tenant,
                notification.event,
                notification.recipient,
                notification.data,
                staff=notification.staff,
                idempotency_key=key,
            )
        except NotPermittedError as exc:
            return error(403, "not_permitted", str(exc))
        except IdempotencyKeyReusedError as exc:
            return error(
                422,
                "idempotency_key_reused",
                str(exc),
                fields=[{"field": "Idempotency-Key", "message": "used with a different request"}],
            )
        except TemplateError as exc:
            return _template_refused(exc)
        except ConfigError as exc:
            return error(422, "invalid_request", str(exc))
        return json_response(
            record.as_dict(),
            200 if record.duplicate else 201,
            headers={"Location": f"/v1/deliveries/{record.id}"},
        )

    async def delivery(self, request: Request) -> Response:
        """``GET /v1/deliveries/{id}``: a notification with its messages and their timelines."""
        tenant = self._tenant(request)
        notification_id = request.path_params["id"]
        record = self._relay.delivery(notification_id)
        if record is None or record.tenant != tenant:
            return error(404, "not_found", "no delivery with this id for this tenant")
        return json_response(record.as_dict())

    async def messages(self, request: Request) -> Response:
        """``GET /v1/messages``: the tenant's messages, newest first, with optional filters."""
        tenant = self._tenant(request, "status", "channel", "tenant", "since", "limit")
        query = request.query_params
        asked = query.get("tenant")
        if asked is not None and asked != tenant:
            return error(403, "forbidden", "this API key may only read its own tenant")
        since = _since(query.get("since"))
        limit = _limit(query.get("limit"))
        found = self._relay.store.deliveries.list_messages(
            tenant=tenant,
            status=query.get("status") or None,
            channel=_channel(query.get("channel")),
            since=since,
            limit=limit,
        )
        return json_response({"messages": [_message(m) for m in found]})

    async def retry_message(self, request: Request) -> Response:
        """``POST /v1/messages/{id}/retry``: re-drive a failed message; the delivery after it."""
        tenant = self._tenant(request)
        message_id = request.path_params["id"]
        message = self._relay.store.deliveries.message(message_id, timeline=False)
        if message is None or message.tenant != tenant:
            return error(404, "not_found", "no such message for this tenant")
        if not await self._relay.aretry_message(message_id):
            return error(
                409,
                "not_retryable",
                f"the message is {message.status}; only a failed or undelivered message of a "
                "delivery that every channel failed can be retried",
            )
        record = self._relay.delivery(message.notification_id)
        assert record is not None
        return json_response(record.as_dict())

    async def connectors(self, request: Request) -> Response:
        """``GET /v1/connectors``: each instance of the tenant and whether it is Connected."""
        tenant = self._tenant(request)
        labels = sorted(c.label for c in self._relay.host.configs.values() if c.tenant == tenant)
        reports = await asyncio.gather(*(self._connections.status(label) for label in labels))
        return json_response({"connectors": list(reports)})

    async def events(self, request: Request) -> Response:
        """``GET /v1/events``: each event's variables, and the tenant's channels for it.

        The shipped events, with those the configuration declares for every tenant
        and for this one.
        """
        tenant = self._tenant(request)
        settings = self._relay.tenant(tenant)
        found = self._relay.templates.events(tenant)
        return json_response({"events": [_event(e, settings.route_for(e.name)) for e in found]})

    async def openapi(self, request: Request) -> Response:
        """``GET /v1/openapi.json``: the OpenAPI document with the tenant's own events."""
        tenant = self._tenant(request)
        return Response(self._documents.tenant(tenant), media_type="application/json")

    async def preview(self, request: Request) -> Response:
        """``POST /v1/templates/preview``: render a template with test values."""
        tenant = self._tenant(request)
        asked = await self._body(request, PreviewRequest)
        max_length = self._relay.host.settings.tenants[tenant].sms.max_length
        try:
            result = self._relay.templates.preview(
                asked.event,
                asked.part,
                asked.data,
                tenant,
                source=asked.source,
                max_length=max_length,
            )
        except TemplateError as exc:
            return _template_refused(exc)
        return json_response(
            {
                "event": result.event,
                "part": result.part.value,
                "text": result.text,
                "characters": result.characters,
                "segments": result.segments,
                "encoding": result.encoding,
                "origin": result.origin,
                "warnings": [
                    {"kind": w.kind.value, "message": w.message, "variable": w.variable}
                    for w in result.warnings
                ],
            }
        )


def _template_refused(exc: TemplateError) -> Response:
    """422 for a template error; an unknown event's name is not echoed (any length, any text)."""
    if isinstance(exc, UnknownEventError):
        return error(
            422,
            "invalid_request",
            "unknown event: GET /v1/events lists this tenant's events",
            fields=[{"field": "event", "message": "unknown event"}],
        )
    return error(422, "invalid_request", str(exc))


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise RequestRefused(
            error(
                422,
                "invalid_request",
                f"Idempotency-Key: 1 to {_MAX_IDEMPOTENCY_KEY} printable ASCII characters",
                fields=[{"field": "Idempotency-Key", "message": "invalid"}],
            )
        )
    return key


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    if not _RFC3339.fullmatch(raw):
        raise _query_error("since", "an RFC 3339 date-time such as 2025-05-12T08:00:00Z")
    try:
        return datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError:
        raise _query_error("since", "an RFC 3339 date-time such as 2025-05-12T08:00:00Z") from None


def _channel(raw: str | None) -> str | None:
    if raw is not None and not KIND_PATTERN.fullmatch(raw):
        shipped = ", ".join(c.value for c in Channel)
        raise _query_error("channel", f"a channel kind ({shipped}, or one a connector declares)")
    return raw


def _query_error(name: str, expected: str) -> RequestRefused:
    return RequestRefused(
        error(
            422,
            "invalid_request",
            f"{name}: use {expected}",
            fields=[{"field": name, "message": f"expected {expected}"}],
        )
    )


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= _MAX_LIMIT:
        raise _query_error("limit", f"a whole number from 1 to {_MAX_LIMIT}")
    return int(raw)


def _message(message: MessageRecord) -> dict[str, Any]:
    return {**message.as_dict(), "notification_id": message.notification_id}


def _event(event: EventSpec, route: Route | None) -> dict[str, Any]:
    by_kind = route.by_kind if route else {}
    return {
        "name": event.name,
        "title": event.title,
        "description": event.description,
        "channels": [step.channel.value for step in (route.steps if route else ())],
        "channels_by_kind": {k: [step.channel.value for step in v] for k, v in by_kind.items()},
        "variables": [
            {
                "name": v.name,
                "description": v.description,
                "required": v.required,
                "example": v.example,
            }
            for v in event.variables
        ],
    }
