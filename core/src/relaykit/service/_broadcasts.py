"""``/v1/broadcasts``: one event to a streamed recipients file, its status, its cancel.

The event, its shared data and a deadline travel as query parameters, so the
body is nothing but the recipients file (JSON lines or CSV, as ``relaykit
broadcast`` reads them) and can stream. The body goes to a spool file
(:mod:`relaykit.service._spool`), then the broadcast opens and runs as a task of
the service: the answer (201, or 200 for an ``Idempotency-Key`` seen before)
comes as soon as it has started, with its id and status URL.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from relaykit.broadcast_policy import MAX_DEADLINE_SECONDS
from relaykit.delivery import Relay
from relaykit.delivery.broadcast import BroadcastRun, open_run
from relaykit.errors import ConfigError
from relaykit.recipient_files import RecipientFileError
from relaykit.service._body import BodyTooLarge, MalformedLength
from relaykit.service._responses import RequestRefused, error, json_response
from relaykit.service._spool import NotUtf8, SpooledRows, spool_body
from relaykit.store.broadcasts import (
    BroadcastKeyReusedError,
    BroadcastState,
    BroadcastStatus,
)
from relaykit.templates import TemplateError, UnknownEventError

__all__ = ["BODY_TYPES", "MAX_BROADCAST_KEY", "BroadcastApi"]

#: The body's media type, and the recipients file suffix it is parsed as.
BODY_TYPES = {"application/x-ndjson": ".jsonl", "application/jsonl": ".jsonl", "text/csv": ".csv"}
#: The broadcasts table keeps keys up to 150 characters.
MAX_BROADCAST_KEY = 150
#: Runs whose bad rows (with line numbers) this process still shows, newest kept.
_RUNS_KEPT = 256

Authorize = Callable[..., str]


class BroadcastApi:
    """``POST /v1/broadcasts``, ``GET /v1/broadcasts/{id}``, ``POST /v1/broadcasts/{id}/cancel``.

    :param authorize: the ``/v1`` rule: the API key's tenant (else 401), and the query
        parameters allowed.
    """

    def __init__(self, relay: Relay, authorize: Authorize) -> None:
        self._relay = relay
        self._authorize = authorize
        self._max_body = relay.host.settings.service.max_broadcast_bytes
        #: this process's runs, for their first bad rows (the store keeps only the count)
        self._runs: collections.OrderedDict[str, BroadcastRun] = collections.OrderedDict()

    async def create(self, request: Request) -> Response:
        """Start a broadcast (201), or answer with the one its ``Idempotency-Key`` made (200)."""
        tenant = self._authorize(request, "event", "data", "deadline")
        event, data, deadline = _query(request)
        suffix = _body_type(request)
        try:
            spec = self._relay.templates.event(event, tenant)
        except UnknownEventError:
            raise _invalid(
                "event", "unknown event: GET /v1/events lists this tenant's events"
            ) from None
        try:  # a value of the wrong type; a missing variable may come in each row's own data
            spec.checked_data({**{v.name: "-" for v in spec.variables}, **data})
        except TemplateError as exc:
            raise _invalid(f"data.{exc.variable}" if exc.variable else "data", str(exc)) from None
        key = _broadcast_key(request)
        if key is not None:
            existing = await asyncio.to_thread(self._relay.store.broadcasts.by_key, tenant, key)
            if existing is not None:
                if existing.event != event or existing.data != data:
                    return _key_reused(BroadcastKeyReusedError(existing))
                if existing.state != BroadcastState.RUNNING or self._relay.broadcast_running(
                    existing.id
                ):
                    return await self._answer(existing.id, 200)
        rows = await self._spooled(request, suffix)
        try:
            run = await open_run(self._relay, tenant, event, data, key=key, deadline=deadline)
        except BroadcastKeyReusedError as exc:
            rows.close()
            return _key_reused(exc)
        except (ConfigError, TemplateError) as exc:
            rows.close()
            return error(422, "invalid_request", str(exc))
        broadcast = run.broadcast
        if self._relay.broadcast_running(broadcast.id):  # a twin request got there first
            rows.close()
            return await self._answer(broadcast.id, 200)
        task = self._relay.start_run(run, rows)
        task.add_done_callback(lambda _: rows.close())
        self._keep(run)
        return await self._answer(broadcast.id, 200 if run.resumed else 201)

    async def show(self, request: Request) -> Response:
        """``GET /v1/broadcasts/{id}``: where the broadcast stands."""
        tenant = self._authorize(request)
        status = await self._status(request.path_params["id"], tenant)
        return json_response(self._body(status))

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/broadcasts/{id}/cancel``: stop it and withdraw what is unsent (200,
        again 200 once cancelled); 409 for a finished one."""
        tenant = self._authorize(request)
        status = await self._status(request.path_params["id"], tenant)
        if status.state == BroadcastState.FINISHED:
            return error(
                409,
                "already_finished",
                "the broadcast has finished: every recipient was sent to or failed",
            )
        if status.state != BroadcastState.CANCELLED:
            self._relay.cancel_broadcast(status.id)
            status = await self._status(status.id, tenant)
        return json_response(self._body(status))

    # -- plumbing ------------------------------------------------------------------------------

    async def _spooled(self, request: Request, suffix: str) -> SpooledRows:
        try:
            path = await spool_body(request, self._max_body, suffix)
        except BodyTooLarge as exc:
            raise RequestRefused(
                error(413, "too_large", f"{exc} (service.max_broadcast_bytes)")
            ) from None
        except (MalformedLength, NotUtf8) as exc:
            raise RequestRefused(error(400, "bad_request", str(exc))) from None
        except ClientDisconnect:  # nobody is left to answer; nothing was stored
            raise RequestRefused(error(400, "bad_request", "the body was cut short")) from None
        try:
            return await asyncio.to_thread(SpooledRows, path)
        except RecipientFileError as exc:
            raise _invalid("body", str(exc)) from None

    async def _status(self, broadcast_id: str, tenant: str) -> BroadcastStatus:
        status = await asyncio.to_thread(self._relay.broadcast_status, broadcast_id)
        if status is None or status.tenant != tenant:
            raise RequestRefused(
                error(404, "not_found", "no broadcast with this id for this tenant")
            )
        return status

    async def _answer(self, broadcast_id: str, code: int) -> Response:
        status = await asyncio.to_thread(self._relay.broadcast_status, broadcast_id)
        assert status is not None
        url = f"/v1/broadcasts/{broadcast_id}"
        return json_response(self._body(status), code, headers={"Location": url})

    def _body(self, status: BroadcastStatus) -> dict[str, Any]:
        run = self._runs.get(status.id)
        bad = [{"line": b.line, "reason": b.reason} for b in run.bad_rows] if run else []
        return {
            **status.as_dict(),
            "status_url": f"/v1/broadcasts/{status.id}",
            "bad_row_lines": bad,
        }

    def _keep(self, run: BroadcastRun) -> None:
        self._runs[run.broadcast.id] = run
        self._runs.move_to_end(run.broadcast.id)
        while len(self._runs) > _RUNS_KEPT:
            self._runs.popitem(last=False)


def _query(request: Request) -> tuple[str, dict[str, Any], float | None]:
    query = request.query_params
    event = query.get("event")
    if not event:
        raise _invalid("event", "the event to send is required: ?event=NAME")
    data: Any = {}
    if "data" in query:
        try:
            data = json.loads(query["data"])
        except json.JSONDecodeError:
            raise _invalid("data", "data must be a JSON object of template variables") from None
        if not isinstance(data, dict):
            raise _invalid("data", "data must be a JSON object of template variables")
    deadline: float | None = None
    if "deadline" in query:
        try:
            deadline = float(query["deadline"])
        except ValueError:
            deadline = -1.0
        if not math.isfinite(deadline) or not 0 < deadline <= MAX_DEADLINE_SECONDS:
            raise _invalid(
                "deadline",
                f"deadline must be a positive number of seconds, at most {MAX_DEADLINE_SECONDS}",
            )
    return event, data, deadline


def _body_type(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = BODY_TYPES.get(media)
    if suffix is None:
        raise RequestRefused(
            error(
                415,
                "unsupported_media_type",
                "send the recipients as Content-Type application/x-ndjson (JSON lines) or "
                "text/csv (a header row first)",
                fields=[{"field": "Content-Type", "message": "application/x-ndjson or text/csv"}],
            )
        )
    return suffix


def _broadcast_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > MAX_BROADCAST_KEY or not key.isascii() or not key.isprintable():
        raise _invalid(
            "Idempotency-Key",
            f"Idempotency-Key: 1 to {MAX_BROADCAST_KEY} printable ASCII characters",
        )
    return key


def _key_reused(exc: BroadcastKeyReusedError) -> Response:
    return error(
        422,
        "idempotency_key_reused",
        f"this Idempotency-Key belongs to broadcast {exc.broadcast_id}, made with another "
        "event or data; send that request again to resume it, or use a new key",
        fields=[{"field": "Idempotency-Key", "message": "used with a different event or data"}],
    )


def _invalid(field: str, message: str) -> RequestRefused:
    return RequestRefused(
        error(422, "invalid_request", message, fields=[{"field": field, "message": message}])
    )
