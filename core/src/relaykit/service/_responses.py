"""JSON responses: one error shape everywhere, and secrets redacted from every body."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response

from relaykit.redaction import redact

__all__ = ["RequestRefused", "error", "json_response"]

JSON = "application/json"


def json_response(
    content: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``content`` as compact JSON, with every registered secret redacted."""
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return Response(redact(text), status_code=status, headers=headers, media_type=JSON)


def error(
    status: int,
    code: str,
    message: str,
    *,
    fields: Sequence[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The error body every endpoint uses: ``{"error": code, "message": ..., "fields": [...]}``.

    :param code: a stable, machine-readable word (``not_found``, ``invalid_request`` ...).
    :param fields: for a 422, each offending field and what is wrong with it.
    """
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = [dict(f) for f in fields]
    return json_response(body, status, headers)


class RequestRefused(Exception):
    """Raised by an endpoint to stop and answer with ``response`` (the app's handler sends it)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response
