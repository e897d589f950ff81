"""``POST /webhooks/{tenant}/{instance}/{kind}``: provider callbacks, verified by the connector.

The URL handed to the connector is the configured public base URL plus the
path and query string exactly as received (PITFALLS 7): never the ``Host``
header or the scheme the request arrived with, which a proxy or TLS
terminator changes, and never a re-encoded query, which would break
signatures that cover the URL.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from relaykit.delivery import Relay
from relaykit.errors import CallbackParseError, CallbackVerificationError
from relaykit.logs import get_logger
from relaykit.results import CallbackRequest
from relaykit.service._body import BodyTooLarge, MalformedLength, read_body
from relaykit.service._callbacks import CallbackApplier
from relaykit.service._responses import error

__all__ = ["WebhookEndpoint"]

log = get_logger("relaykit.service")


class WebhookEndpoint:
    """Routes a webhook to its instance's connector, then applies what it says."""

    def __init__(self, relay: Relay, applier: CallbackApplier) -> None:
        self._relay = relay
        self._applier = applier
        settings = relay.host.settings
        self._public_base = settings.public_base()
        self._max_body = settings.service.max_body_bytes
        registry = relay.host.plugins.connectors
        self._kinds = {
            label: frozenset(registry.get(config.connector).connector_class.spec().callback_kinds)
            for label, config in relay.host.configs.items()
        }

    def public_url(self, request: Request) -> str:
        """The URL the provider called, as it must have been configured there."""
        path = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
        url = f"{self._public_base}{path.decode('latin-1')}"
        query = request.scope.get("query_string", b"")
        return f"{url}?{query.decode('latin-1')}" if query else url

    async def handle(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        instance = request.path_params["instance"]
        kind = request.path_params["kind"]
        label = f"{tenant}/{instance}"
        kinds = self._kinds.get(label)
        # Neither message repeats the path: a 404 never echoes what was asked for.
        if kinds is None:
            return error(404, "not_found", "no such tenant and instance is configured")
        if kind not in kinds:
            known = ", ".join(sorted(kinds)) or "none"
            return error(
                404, "not_found", f"no such webhook kind for this instance (it has: {known})"
            )
        if self._public_base is None:
            return error(
                503,
                "not_configured",
                "public_base_url is not set, so webhook signatures cannot be checked; "
                "set it to the URL the provider calls (e.g. https://relay.example.org)",
            )
        try:
            body = await read_body(request, self._max_body)
        except BodyTooLarge as exc:
            return error(413, "too_large", str(exc))
        except MalformedLength as exc:
            return error(400, "bad_request", str(exc))
        callback = CallbackRequest(
            kind=kind,
            url=self.public_url(request),
            method=request.method,
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]},
            body=body,
            content_type=request.headers.get("content-type", ""),
        )
        try:
            outcome = await self._relay.host.handle_callback(label, callback)
        except CallbackVerificationError as exc:
            log.warning("webhook_refused", instance=label, kind=kind, reason=str(exc))
            return error(403, "forbidden", "the request's signature did not verify")
        except CallbackParseError as exc:
            return error(400, "bad_request", str(exc))
        await self._applier.apply(tenant, instance, outcome)
        return Response(outcome.response_body, media_type=outcome.response_content_type)
