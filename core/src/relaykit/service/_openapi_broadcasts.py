"""The broadcasts' part of the OpenAPI document: ``/v1/broadcasts`` and its status shape.

Kept beside :mod:`relaykit.service._openapi`, in its style: written out by
hand, checked against the live service by the schemathesis test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit.broadcast_policy import MAX_DEADLINE_SECONDS
from relaykit.service._broadcasts import BODY_TYPES, MAX_BROADCAST_KEY
from relaykit.templates import EventSpec

__all__ = ["broadcast_paths", "broadcast_schemas"]

_STRING = {"type": "string"}
_INT = {"type": "integer", "minimum": 0}
_COUNTS = {"type": "object", "additionalProperties": _INT}
_ERROR = {"$ref": "#/components/schemas/Error"}
_STATUS = {"$ref": "#/components/schemas/Broadcast"}
_SECURED: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def broadcast_schemas() -> dict[str, Any]:
    """``Broadcast``: what POST, GET and cancel answer with."""
    time = {"type": "string", "format": "date-time"}
    bad_row = {
        "type": "object",
        "required": ["line", "reason"],
        "properties": {"line": {"type": "integer", "minimum": 1}, "reason": _STRING},
    }
    properties = {
        "id": _STRING,
        "tenant": _STRING,
        "event": _STRING,
        "key": {**_STRING, "description": "The Idempotency-Key, or one made up (auto-…)."},
        "state": {"enum": ["running", "finished", "cancelled"]},
        "recipients_read": {**_INT, "description": "Rows read from the body so far."},
        "bad_rows": {**_INT, "description": "Rows skipped: not a recipient, or not sendable."},
        "enqueue_done": {"type": "boolean", "description": "Every row has been read."},
        "created_at": _nullable(time),
        "started_at": _nullable(time),
        "finished_at": _nullable(time),
        "notifications": _INT,
        "sent": {**_INT, "description": "Handed to a provider (sent or delivered)."},
        "failed": _INT,
        "pending": _INT,
        "fallen_back": {**_INT, "description": "Notifications that moved past a step."},
        "by_state": {**_COUNTS, "description": "Notifications per state."},
        "by_channel": {**_COUNTS, "description": "Notifications sent, per channel."},
        "fallback_reasons": {
            **_COUNTS,
            "description": "Messages per fallback reason (no_number, opted_out, deadline, …).",
        },
        "rate": {
            **_nullable({"type": "number"}),
            "description": "Notifications sent per second since it started.",
        },
        "status_url": _STRING,
        "bad_row_lines": {
            "type": "array",
            "items": bad_row,
            "description": "The first bad rows with their line numbers (as long as the "
            "process that read them runs).",
        },
    }
    return {"Broadcast": {"type": "object", "required": list(properties), "properties": properties}}


def broadcast_paths(events: Sequence[EventSpec]) -> dict[str, Any]:
    """``POST /v1/broadcasts``, ``GET /v1/broadcasts/{id}``, ``POST …/{id}/cancel``."""
    path_id = [{"name": "id", "in": "path", "required": True, "schema": _STRING}]
    unauthorized = _answer("No valid API key.", _ERROR)
    not_found = _answer("No such broadcast for this tenant.", _ERROR)
    bodies = {media: {"schema": _STRING} for media in BODY_TYPES}
    return {
        "/v1/broadcasts": {
            "post": {
                "operationId": "startBroadcast",
                "summary": "Send an event to every recipient of a streamed JSON-lines or CSV "
                "body; answers once the broadcast has started.",
                "description": "The body is a recipients file, as `relaykit broadcast` reads it: "
                'JSON lines (a recipient object per line, or `{"recipient": …, "data": …}`) '
                "or CSV with a header row (`id`, `kind`, `name`, `email`, `phone`, …; other "
                "columns are template data). It is streamed to disk, up to "
                "service.max_broadcast_bytes. Bad rows are counted and skipped.",
                "security": _SECURED,
                "parameters": [
                    {
                        "name": "event",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "enum": [e.name for e in events]},
                    },
                    {
                        "name": "data",
                        "in": "query",
                        "required": False,
                        "description": "A JSON object: template variables every recipient "
                        "shares (a row's own data wins).",
                        "schema": _STRING,
                    },
                    {
                        "name": "deadline",
                        "in": "query",
                        "required": False,
                        "description": "Seconds each message has to be delivered before its "
                        "notification moves on.",
                        "schema": {
                            "type": "number",
                            "exclusiveMinimum": 0,
                            "maximum": MAX_DEADLINE_SECONDS,
                        },
                    },
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "The broadcast's key (per tenant): the same request "
                        "again answers 200 with the same broadcast and sends nobody twice; "
                        "after a restart it resumes the broadcast where it stopped.",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_BROADCAST_KEY,
                            "pattern": "^[\\x20-\\x7e]+$",
                        },
                    },
                ],
                "requestBody": {"required": True, "content": bodies},
                "responses": {
                    "201": _answer("Started: the broadcast; Location is its status URL.", _STATUS),
                    "200": _answer(
                        "The Idempotency-Key's broadcast (resumed if stopped).", _STATUS
                    ),
                    "400": _answer("The body is not UTF-8 text, or was cut short.", _ERROR),
                    "401": unauthorized,
                    "413": _answer("The body is over service.max_broadcast_bytes.", _ERROR),
                    "415": _answer(
                        "Not application/x-ndjson, application/jsonl or text/csv.", _ERROR
                    ),
                    "422": _answer(
                        "Unknown event, bad data or deadline, a CSV header without id, or an "
                        "Idempotency-Key used with another event or data; nothing was stored.",
                        _ERROR,
                    ),
                },
            }
        },
        "/v1/broadcasts/{id}": {
            "get": {
                "operationId": "getBroadcast",
                "summary": "Where a broadcast stands: counts by state, channel and fallback "
                "reason, rate, started and finished, bad rows.",
                "security": _SECURED,
                "parameters": path_id,
                "responses": {
                    "200": _answer("The broadcast.", _STATUS),
                    "401": unauthorized,
                    "404": not_found,
                },
            }
        },
        "/v1/broadcasts/{id}/cancel": {
            "post": {
                "operationId": "cancelBroadcast",
                "summary": "Stop a broadcast: no more rows are read and unsent messages are "
                "withdrawn (what was sent stays sent). Again: the same answer.",
                "security": _SECURED,
                "parameters": path_id,
                "responses": {
                    "200": _answer("Cancelled: the broadcast.", _STATUS),
                    "401": unauthorized,
                    "404": not_found,
                    "409": _answer("The broadcast has already finished.", _ERROR),
                },
            }
        },
    }
