"""The OpenAPI 3.1 document of the service, served at ``/openapi.json``.

Request bodies come from the pydantic models the endpoints validate with;
response shapes are written out here and checked against the live service
by the schemathesis test. ``docs/openapi.json`` is this document as
``relaykit serve --openapi`` prints it; a test fails when the two drift.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from relaykit._kinds import KIND_PATTERN
from relaykit.results import Channel, ConnectionState
from relaykit.service._models import NotificationRequest, PreviewRequest
from relaykit.service._openapi_broadcasts import broadcast_paths, broadcast_schemas
from relaykit.templates import EventSpec, TemplateCatalog, TemplatePart

__all__ = ["openapi_document", "openapi_json"]

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_STRING = {"type": "string"}
_INT = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}
#: A channel kind: the shipped ones or one a connector declares (``pager``).
_CHANNEL = {
    "type": "string",
    "pattern": f"^{KIND_PATTERN.pattern}$",
    "description": f"A channel kind: {', '.join(c.value for c in Channel)}, or one a connector "
    "declares",
}


def _object(required: list[str], /, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _response_schemas() -> dict[str, Any]:
    timeline = _object(
        ["status", "source", "at", "applied", "error_code"],
        status=_STRING,
        source=_STRING,
        at=_TIME,
        applied={"type": "boolean"},
        error_code=_nullable(_STRING),
    )
    message_fields = {
        "id": _STRING,
        "step": _INT,
        "channel": _CHANNEL,
        "instance": _STRING,
        "to": _STRING,
        "sender": _nullable(_STRING),
        "status": {
            **_STRING,
            "description": "pending, skipped, retrying, or the provider's status (queued, "
            "sent, delivered, read, undelivered, failed, ...)",
        },
        "provider_message_id": _nullable(_STRING),
        "segments": _nullable(_INT),
        "encoding": _nullable(_STRING),
        "error_code": _nullable(_STRING),
        "error_message": _nullable(_STRING),
        "fallback_reason": {
            **_nullable(_STRING),
            "description": "Why this step was passed over or left (no_number, opted_out, "
            "monthly_limit, too_long, not_connected, provider_error, undelivered, deadline, ...)",
        },
        "attempts": _INT,
        "created_at": _TIME,
        "timeline": {"type": "array", "items": _ref("TimelineEntry")},
    }
    message = _object(sorted(message_fields), **message_fields)
    listed = {"allOf": [_ref("Message"), _object(["notification_id"], notification_id=_STRING)]}
    delivery = _object(
        [
            "id",
            "tenant",
            "event",
            "recipient_id",
            "state",
            "channel",
            "idempotency_key",
            "duplicate",
            "created_at",
            "fallbacks",
            "messages",
        ],
        id=_STRING,
        tenant=_STRING,
        event=_STRING,
        recipient_id=_STRING,
        state={"type": "string", "enum": ["pending", "sent", "delivered", "failed"]},
        channel=_nullable(_CHANNEL),
        idempotency_key=_nullable(_STRING),
        duplicate={"type": "boolean", "description": "True when the Idempotency-Key was seen"},
        created_at=_TIME,
        fallbacks={
            "type": "array",
            "items": _object(["channel", "reason"], channel=_CHANNEL, reason=_STRING),
        },
        messages={"type": "array", "items": _ref("Message")},
    )
    connector = _object(
        [
            "instance",
            "label",
            "connector",
            "connected",
            "state",
            "detail",
            "checked_at",
            "skipped_by_delivery",
            "skip_reason",
        ],
        instance=_STRING,
        label=_STRING,
        connector=_STRING,
        connected={"type": "boolean"},
        state={"type": "string", "enum": [s.value for s in ConnectionState]},
        detail=_STRING,
        checked_at=_TIME,
        skipped_by_delivery={
            "type": "boolean",
            "description": "New messages pass this instance over (credentials were rejected)",
        },
        skip_reason=_nullable(_STRING),
    )
    preview = _object(
        ["event", "part", "text", "characters", "segments", "encoding", "origin", "warnings"],
        event=_STRING,
        part={"type": "string", "enum": [p.value for p in TemplatePart]},
        text=_STRING,
        characters=_INT,
        segments=_nullable(_INT),
        encoding=_nullable(_STRING),
        origin={"type": "string", "enum": ["default", "override", "draft"]},
        warnings={
            "type": "array",
            "items": _object(
                ["kind", "message", "variable"],
                kind=_STRING,
                message=_STRING,
                variable=_nullable(_STRING),
            ),
        },
    )
    event = _object(
        ["name", "title", "description", "channels", "channels_by_kind", "variables"],
        name=_STRING,
        title=_STRING,
        description=_STRING,
        channels={
            "type": "array",
            "items": _CHANNEL,
            "description": "The tenant's route for the event, in the order tried; empty when "
            "it has none (POST /v1/notifications then answers 422)",
        },
        channels_by_kind={
            "type": "object",
            "additionalProperties": {"type": "array", "items": _CHANNEL},
            "description": "Recipient kinds (student, guest, ...) routed otherwise",
        },
        variables={
            "type": "array",
            "items": _object(
                ["name", "description", "required", "example"],
                name=_STRING,
                description=_STRING,
                required={
                    "type": "boolean",
                    "description": "Must be in `data`; an optional one may be left out",
                },
                example=_STRING,
            ),
        },
    )
    problem = _object(
        ["error", "message"],
        error={"type": "string", "description": "A stable word: not_found, invalid_request, ..."},
        message=_STRING,
        fields={
            "type": "array",
            "items": _object(["field", "message"], field=_STRING, message=_STRING),
        },
    )
    return {
        "TimelineEntry": timeline,
        "Message": message,
        "ListedMessage": listed,
        "Delivery": delivery,
        "ConnectorStatus": connector,
        "Preview": preview,
        "Event": event,
        "Error": problem,
    }


def _event_data_schema(event: EventSpec) -> dict[str, Any]:
    """The ``data`` of a notification of ``event``: each declared variable, the required ones."""
    variables = {
        v.name: {
            "type": ["string", "number", "boolean"]
            if v.required
            else ["string", "number", "boolean", "null"],
            "description": v.description,
            "examples": [v.example],
        }
        for v in event.variables
    }
    return {
        "type": "object",
        "description": f"The variables of {event.name}; other keys are ignored.",
        "properties": variables,
        "required": [v.name for v in event.variables if v.required],
    }


def _camel(name: str) -> str:
    return "".join(word.capitalize() for word in name.split("_"))


def _schema_names(events: Sequence[EventSpec], taken: set[str]) -> dict[str, str]:
    """A schema name stem per event (``doorcode_changed``: ``DoorcodeChanged``), each unique.

    ``a_b`` and ``a__b`` camel-case alike; the later one gets a number, so every
    event keeps its own request schema.
    """
    stems: dict[str, str] = {}
    used = set(taken)
    for event in events:
        stem, n = _camel(event.name), 1
        while {f"{stem}Data", f"{stem}Notification"} & used:
            n += 1
            stem = f"{_camel(event.name)}{n}"
        used |= {f"{stem}Data", f"{stem}Notification"}
        stems[event.name] = stem
    return stems


def _request_schemas(events: Sequence[EventSpec]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (NotificationRequest, PreviewRequest):
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schema["properties"]["event"]["enum"] = [e.name for e in events]  # those with templates
        schemas[model.__name__] = schema
    # A notification's data depends on its event: one request schema per event, chosen by it.
    base = schemas.pop(NotificationRequest.__name__)
    mapping = {}
    stems = _schema_names(events, {*schemas, NotificationRequest.__name__})
    for event in events:
        data, request = f"{stems[event.name]}Data", f"{stems[event.name]}Notification"
        schemas[data] = _event_data_schema(event)
        needs_data = ["data"] if schemas[data]["required"] else []
        schemas[request] = {
            **base,
            "title": request,
            "properties": {
                **base["properties"],
                "event": {"type": "string", "const": event.name, "description": event.title},
                "data": _ref(data),
            },
            "required": [*base["required"], *needs_data],
        }
        mapping[event.name] = _REF.format(model=request)
    schemas[NotificationRequest.__name__] = {
        "title": NotificationRequest.__name__,
        "description": base["description"] + " `data` holds the event's variables "
        "(also listed by GET /v1/events).",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "event", "mapping": mapping},
    }
    return schemas


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"description": description}
    return {**body, **_json(schema)} if schema else body


_ERROR = _ref("Error")
_UNAUTHORIZED = _answer("No valid API key.", _ERROR)
_SECURED: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _paths() -> dict[str, Any]:
    too_large = _answer("The body is over service.max_body_bytes.", _ERROR)
    bad_json = _answer("The body is not JSON.", _ERROR)
    invalid = _answer("Invalid input; `fields` names each offending field.", _ERROR)
    return {
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness (no authentication).",
                "responses": {"200": _answer("Up.", _object(["status"], status={"const": "ok"}))},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document: the events every tenant has (no authentication).",
                "responses": {"200": _answer("The OpenAPI document.", {"type": "object"})},
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "tenantOpenapi",
                "summary": "This document as the key's tenant has it: its own events too.",
                "description": "The same paths; the notification and preview requests name "
                "the tenant's events (the shipped ones, those the configuration declares for "
                "every tenant and for this one), each with its `data` schema. "
                "`info.x-relaykit-tenant` names the tenant.",
                "security": _SECURED,
                "responses": {
                    "200": _answer("The tenant's OpenAPI document.", {"type": "object"}),
                    "401": _UNAUTHORIZED,
                },
            }
        },
        "/webhooks/{tenant}/{instance}/{kind}": {
            "post": {
                "operationId": "webhook",
                "summary": "A provider's callback (status, inbound, bounce), verified by the "
                "instance's connector.",
                "description": "The connector checks the request's signature against the public "
                "URL: the configured public_base_url plus this path and query string.",
                "parameters": [
                    {"name": n, "in": "path", "required": True, "schema": _STRING}
                    for n in ("tenant", "instance", "kind")
                ]
                + [
                    {
                        "name": "X-Twilio-Signature",
                        "in": "header",
                        "required": False,
                        "schema": _STRING,
                    }
                ],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {"type": "object", "additionalProperties": _STRING}
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Applied (or a replay, ignored). The body is what the "
                        "provider expects, e.g. empty TwiML for an inbound SMS.",
                        "content": {"text/xml": {}, "text/plain": {}},
                    },
                    "400": _answer("Verified but malformed.", _ERROR),
                    "403": _answer("The signature is missing or wrong; nothing changed.", _ERROR),
                    "404": _answer("No such tenant, instance or webhook kind.", _ERROR),
                    "413": too_large,
                    "503": _answer("public_base_url is not configured.", _ERROR),
                },
            }
        },
        "/v1/notifications": {
            "post": {
                "operationId": "notify",
                "summary": "Send a notification over the tenant's route for the event.",
                "security": _SECURED,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "The same key (per tenant) never sends twice: the "
                        "same request again answers 200 with the first delivery; a different "
                        "event, recipient, data or staff answers 422 idempotency_key_reused.",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 255,
                            "pattern": "^[\\x20-\\x7e]+$",
                        },
                    }
                ],
                "requestBody": {"required": True, **_json(_ref("NotificationRequest"))},
                "responses": {
                    "201": _answer("Accepted: the delivery record.", _ref("Delivery")),
                    "200": _answer(
                        "The Idempotency-Key was used before: that delivery, duplicate=true.",
                        _ref("Delivery"),
                    ),
                    "400": bad_json,
                    "401": _UNAUTHORIZED,
                    "403": _answer("Another tenant, or the staff user may not send.", _ERROR),
                    "413": too_large,
                    "422": _answer(
                        "Invalid input (`fields` names each offending field), or the "
                        "Idempotency-Key was used with a different request.",
                        _ERROR,
                    ),
                },
            }
        },
        "/v1/deliveries/{id}": {
            "get": {
                "operationId": "getDelivery",
                "summary": "A delivery: its messages, their status timelines and fallbacks.",
                "security": _SECURED,
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": _STRING}],
                "responses": {
                    "200": _answer("The delivery.", _ref("Delivery")),
                    "401": _UNAUTHORIZED,
                    "404": _answer("No such delivery for this tenant.", _ERROR),
                },
            }
        },
        "/v1/messages": {
            "get": {
                "operationId": "listMessages",
                "summary": "The tenant's messages, newest first.",
                "security": _SECURED,
                "parameters": [
                    {"name": "status", "in": "query", "schema": _STRING},
                    {"name": "channel", "in": "query", "schema": _CHANNEL},
                    {
                        "name": "tenant",
                        "in": "query",
                        "description": "Only the key's own tenant is allowed.",
                        "schema": _STRING,
                    },
                    {
                        "name": "since",
                        "in": "query",
                        "description": "Messages created at or after this instant; any UTC "
                        "offset (Z, +14:00, -11:00) names the same instant.",
                        "schema": _TIME,
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                ],
                "responses": {
                    "200": _answer(
                        "The messages (timelines are on GET /v1/deliveries/{id}).",
                        _object(
                            ["messages"],
                            messages={"type": "array", "items": _ref("ListedMessage")},
                        ),
                    ),
                    "401": _UNAUTHORIZED,
                    "403": _answer("Another tenant.", _ERROR),
                    "422": invalid,
                },
            }
        },
        "/v1/messages/{id}/retry": {
            "post": {
                "operationId": "retryMessage",
                "summary": "Re-drive a failed message (after an outage): due again now, with a "
                "fresh retry budget.",
                "description": "Only a failed or undelivered message of a delivery that every "
                "channel failed: one that another channel carries is never sent twice.",
                "security": _SECURED,
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": _STRING}],
                "responses": {
                    "200": _answer("Re-driven: the delivery as it is now.", _ref("Delivery")),
                    "401": _UNAUTHORIZED,
                    "404": _answer("No such message for this tenant.", _ERROR),
                    "409": _answer("The message cannot be retried (see the message).", _ERROR),
                },
            }
        },
        "/v1/connectors": {
            "get": {
                "operationId": "listConnectors",
                "summary": "Each instance of the tenant with its live Connected status.",
                "description": "Checked with the provider, reused for 30 seconds.",
                "security": _SECURED,
                "responses": {
                    "200": _answer(
                        "The instances.",
                        _object(
                            ["connectors"],
                            connectors={"type": "array", "items": _ref("ConnectorStatus")},
                        ),
                    ),
                    "401": _UNAUTHORIZED,
                },
            }
        },
        "/v1/events": {
            "get": {
                "operationId": "listEvents",
                "summary": "Each event with its template variables and the tenant's channels.",
                "security": _SECURED,
                "responses": {
                    "200": _answer(
                        "The events.",
                        _object(["events"], events={"type": "array", "items": _ref("Event")}),
                    ),
                    "401": _UNAUTHORIZED,
                },
            }
        },
        "/v1/templates/preview": {
            "post": {
                "operationId": "previewTemplate",
                "summary": "Render a template part with test values: text, length, SMS "
                "segments and encoding, warnings.",
                "security": _SECURED,
                "requestBody": {"required": True, **_json(_ref("PreviewRequest"))},
                "responses": {
                    "200": _answer("The preview.", _ref("Preview")),
                    "400": bad_json,
                    "401": _UNAUTHORIZED,
                    "413": too_large,
                    "422": invalid,
                },
            }
        },
    }


def openapi_document(
    events: Sequence[EventSpec] | None = None, *, tenant: str | None = None
) -> dict[str, Any]:
    """The service's OpenAPI 3.1 document.

    :param events: the events a notification may name, one request schema each;
        the shipped ones when ``None`` (the committed document). A service passes
        its catalog's, so events its configuration declares are in what it serves.
    :param tenant: the tenant whose events ``events`` are (``GET /v1/openapi.json``);
        named in ``info.x-relaykit-tenant``.
    """
    events = TemplateCatalog().events() if events is None else events
    info = {
        "title": "relaykit",
        "version": version("relaykit"),
        "description": "Notifications by SMS, WhatsApp and email through pluggable "
        "provider connectors: provider webhooks and a JSON API for workflow engines. "
        "Each API key belongs to one tenant and sees only that tenant.",
    }
    if tenant is not None:
        info["x-relaykit-tenant"] = tenant
    return {
        "openapi": "3.1.0",
        "info": info,
        "paths": {**_paths(), **broadcast_paths(events)},
        "components": {
            "schemas": {**_request_schemas(events), **_response_schemas(), **broadcast_schemas()},
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A tenant API key; settings hold its sha256 hash.",
                }
            },
        },
    }


def openapi_json(events: Sequence[EventSpec] | None = None, *, tenant: str | None = None) -> str:
    """The document as committed in ``docs/openapi.json`` (sorted keys, two-space indent)."""
    document = openapi_document(events, tenant=tenant)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
