"""``create_app(relay)``: the Starlette application behind ``relaykit serve``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relaykit.delivery import Relay
from relaykit.delivery.reload import reload_on_sighup as sighup_reload
from relaykit.logs import get_logger
from relaykit.service._api import JsonApi
from relaykit.service._auth import ApiKeys
from relaykit.service._broadcasts import BroadcastApi
from relaykit.service._callbacks import DEFAULT_CALLBACK_BUDGET_S, DEFAULT_DRAIN_S, CallbackApplier
from relaykit.service._connections import DEFAULT_TTL_S, ConnectionCache
from relaykit.service._documents import OpenApiDocuments
from relaykit.service._responses import RequestRefused, error, json_response
from relaykit.service._webhooks import WebhookEndpoint

__all__ = ["create_app"]

log = get_logger("relaykit.service")

#: How often ``serve`` moves messages past their delivery deadline on (deadlines can be
#: seconds) and, with inline delivery, sends the retries ``notify`` left in the database.
DEFAULT_SWEEP_INTERVAL_S = 1.0


def create_app(
    relay: Relay,
    *,
    callback_budget_s: float = DEFAULT_CALLBACK_BUDGET_S,
    connection_ttl_s: float = DEFAULT_TTL_S,
    drain_timeout_s: float = DEFAULT_DRAIN_S,
    close_relay: bool = False,
    sweep_interval_s: float = DEFAULT_SWEEP_INTERVAL_S,
    reload_on_sighup: bool = False,
) -> Starlette:
    """The ASGI app: provider webhooks, the ``/v1`` JSON API, ``/healthz``, ``/openapi.json``.

    :param relay: the engine the app serves; its settings give the public base
        URL, the body limit and each tenant's API key hashes.
    :param callback_budget_s: how long a webhook waits for its events to be
        applied before answering anyway (the rest finishes in the background).
    :param connection_ttl_s: how long a ``GET /v1/connectors`` check is reused.
    :param drain_timeout_s: how long shutdown waits for callbacks still being applied.
    :param close_relay: close ``relay`` when the app shuts down (``relaykit serve``).
    :param sweep_interval_s: seconds between the service's own sweeps: missed delivery
        deadlines and, with inline delivery, due retries and paced messages (a worker,
        if one runs too, does the same: each message moves on, and is claimed, once).
    :param reload_on_sighup: while serving, SIGHUP re-reads the settings: the
        secrets (a rotated token; the instances are re-checked at once) and the
        declared events (``relaykit serve``).
    """
    applier = CallbackApplier(relay, callback_budget_s)
    webhooks = WebhookEndpoint(relay, applier)
    connections = ConnectionCache(relay, connection_ttl_s)
    documents = OpenApiDocuments(relay.templates)
    api = JsonApi(relay, ApiKeys(relay.host.settings), connections, documents)
    broadcasts = BroadcastApi(relay, api.authorize)

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def openapi(request: Request) -> Response:
        return Response(documents.shared(), media_type="application/json")

    def reloaded() -> None:
        connections.forget()
        documents.forget()  # the events may have changed

    stopped = asyncio.Event()

    async def sweeping(sweep: Callable[[], Awaitable[int]], name: str) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), sweep_interval_s)
                return  # shutting down: a sweep under way is finished, never cut
            try:
                await sweep()
            except Exception:  # the next sweep tries again; the service keeps serving
                log.exception(f"{name}_failed")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        remove_handler = sighup_reload(relay, then=reloaded) if reload_on_sighup else None
        sweepers = [asyncio.create_task(sweeping(relay.sweep_deadlines, "deadline_sweep"))]
        if relay.inline:  # queued delivery leaves sending to relaykit worker
            sweepers.append(asyncio.create_task(sweeping(relay.send_due, "send_due")))
        try:
            yield
        finally:
            if remove_handler is not None:
                remove_handler()
            await relay.astop_broadcasts()  # a re-POST with the same key resumes each
            # Start no new provider call, then let a sweep under way finish its calls in flight.
            relay.dispatcher.stop_starting()
            stopped.set()
            await asyncio.gather(*sweepers, return_exceptions=True)
            await applier.drain(drain_timeout_s)
            if close_relay:
                await relay.aclose()

    app = Starlette(
        routes=[
            # first: the busiest route (callbacks), matched before any other is tried
            Route("/webhooks/{tenant}/{instance}/{kind}", webhooks.handle, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/v1/notifications", api.notify, methods=["POST"]),
            Route("/v1/deliveries/{id}", api.delivery, methods=["GET"]),
            Route("/v1/messages", api.messages, methods=["GET"]),
            Route("/v1/messages/{id}/retry", api.retry_message, methods=["POST"]),
            Route("/v1/connectors", api.connectors, methods=["GET"]),
            Route("/v1/events", api.events, methods=["GET"]),
            Route("/v1/openapi.json", api.openapi, methods=["GET"]),
            Route("/v1/templates/preview", api.preview, methods=["POST"]),
            Route("/v1/broadcasts", broadcasts.create, methods=["POST"]),
            Route("/v1/broadcasts/{id}", broadcasts.show, methods=["GET"]),
            Route("/v1/broadcasts/{id}/cancel", broadcasts.cancel, methods=["POST"]),
        ],
        exception_handlers={
            RequestRefused: _refused,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    app.state.callbacks = applier
    return app


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestRefused)
    return exc.response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    words = {404: "not_found", 405: "method_not_allowed"}
    return error(
        exc.status_code,
        words.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=exc.headers,
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("request_failed", path=request.url.path, exc_info=exc)
    return error(500, "internal_error", "relaykit could not complete the request; see its log")
