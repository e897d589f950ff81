"""A tiny HTTP client for the demo (stdlib only: the core does not ship an HTTP client).

Each call runs in a worker thread so the event loop - which also runs the
service and the sandboxes being called - keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

__all__ = ["HttpAnswer", "request"]

HttpAnswer = tuple[int, Any]


async def request(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    basic_auth: tuple[str, str] | None = None,
) -> HttpAnswer:
    """``(status, parsed JSON body or None)``; HTTP errors are answers, not exceptions."""
    return await asyncio.to_thread(_call, method, url, json_body, form, headers, basic_auth)


def _call(
    method: str,
    url: str,
    json_body: Any,
    form: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    basic_auth: tuple[str, str] | None,
) -> HttpAnswer:
    sent = dict(headers or {})
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode("utf-8")
        sent["Content-Type"] = "application/json"
    elif form is not None:
        data = urlencode(form).encode("ascii")
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    if basic_auth is not None:
        pair = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode("ascii")
        sent["Authorization"] = f"Basic {pair}"
    call = urllib.request.Request(url, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(call, timeout=20) as response:
            return response.status, _parse(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _parse(exc.read())


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
