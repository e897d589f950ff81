"""The twilio SDK's async HTTP client, adapted through its own extension point.

:class:`RelaykitHttpClient` subclasses the SDK's ``AsyncTwilioHttpClient``
(the SDK's documented way to supply a transport) and changes four things:

* **API base URL** (PITFALLS 30): request URLs on ``https://*.twilio.com``
  are rewritten to the instance's ``api_base_url`` when that is not Twilio's
  own, so one setting points every SDK call (the 2010 API and
  ``messaging.twilio.com``) at a local Twilio-compatible server. No
  monkeypatching, no environment variable.
* **No retries** (PITFALLS 29): the SDK's ``max_retries`` re-POSTs a message
  on every 5xx; it stays off, and relaykit's classified retry decides.
* **What happened on the wire**: the SDK raises on an error response without
  its headers, and on a transport failure nobody can tell whether the
  request left. Each call records, in the caller's :class:`Exchange`, whether
  the request may have reached Twilio (anything but a failure to connect) and
  the raw status and headers of the answer (``Retry-After`` lives only
  there). A context variable keeps concurrent sends on one client apart.
* **Timeouts and logging**: a total and a connect timeout (the SDK's default
  is none at all), and the SDK's request log goes to the ``twilio.http_client``
  logger, which relaykit's logging holds at WARNING and redacts (PITFALLS 4);
  the SDK's own async logger name is not covered by that rule.
"""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]

__all__ = ["Exchange", "RelaykitHttpClient", "track_exchange"]

SDK_LOGGER = "twilio.http_client"
_CONNECT_TIMEOUT = 5.0
_REWRITTEN_LIMIT = 256


#: No connection was made (refused, DNS, TLS handshake, connect timeout): nothing left.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


@dataclass(slots=True)
class Exchange:
    """What one SDK call did on the wire (the last HTTP request it made).

    :ivar sent: a connection was made, so the request may have reached Twilio.
    """

    sent: bool = False
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


_current: ContextVar[Exchange | None] = ContextVar("relaykit_twilio_exchange", default=None)


@contextmanager
def track_exchange() -> Iterator[Exchange]:
    """Record the HTTP requests made inside the block into a fresh :class:`Exchange`."""
    exchange = Exchange()
    token = _current.set(exchange)
    try:
        yield exchange
    finally:
        _current.reset(token)


def _is_twilio_host(host: str | None) -> bool:
    return bool(host) and (host == "twilio.com" or str(host).endswith(".twilio.com"))


class RelaykitHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's async client with URL rewriting, wire tracking, timeouts and no retries.

    :param api_base_url: where requests go; Twilio's own URL leaves them unchanged.
    :param timeout: seconds a request may take in all.
    """

    def __init__(self, *, api_base_url: str, timeout: float, max_connections: int = 100) -> None:
        super().__init__(
            pool_connections=False,  # the session is built lazily, inside the event loop
            timeout=timeout,
            logger=logging.getLogger(SDK_LOGGER),
            max_retries=None,
        )
        parts = urlsplit(api_base_url.rstrip("/"))
        self._base: tuple[str, str, str] | None = (
            None if _is_twilio_host(parts.hostname) else (parts.scheme, parts.netloc, parts.path)
        )
        self._session: aiohttp.ClientSession | None = None
        self._max_connections = max_connections
        #: Rewritten URLs: a send posts to the same URL every time.
        self._rewritten: dict[str, str] = {}

    def rewrite(self, url: str) -> str:
        """``url`` moved onto the configured API base URL, when that is not Twilio's."""
        if self._base is None:
            return url
        rewritten = self._rewritten.get(url)
        if rewritten is None:
            if len(self._rewritten) >= _REWRITTEN_LIMIT:  # fetches name a message each
                self._rewritten.clear()
            rewritten = self._rewritten[url] = self._moved(url)
        return rewritten

    def _moved(self, url: str) -> str:
        assert self._base is not None
        parts = urlsplit(url)
        if parts.scheme != "https" or not _is_twilio_host(parts.hostname):
            return url
        scheme, netloc, prefix = self._base
        return urlunsplit((scheme, netloc, prefix + parts.path, parts.query, parts.fragment))

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=aiohttp.ClientTimeout(
                    total=self.timeout, connect=min(_CONNECT_TIMEOUT, self.timeout or 1e9)
                ),
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request (never retried) and record it in the caller's :class:`Exchange`."""
        kwargs: dict[str, Any] = {
            "method": method.upper(),
            "url": self.rewrite(url),
            "params": params,
            "data": data,
            "headers": dict(headers or {}),
            "allow_redirects": allow_redirects,
        }
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        # The SDK's request log formats every line before its logger checks the level.
        logs = self.logger.isEnabledFor(logging.INFO)
        if logs:
            self.log_request(kwargs)  # before the credentials are added
        if auth is not None:
            kwargs["headers"]["Authorization"] = _basic_auth(*auth)
        exchange = _current.get()
        if exchange is not None:
            exchange.sent, exchange.status, exchange.headers = False, None, {}
        try:
            async with self._client_session().request(**kwargs) as answer:
                text = await answer.text()
        except _NOT_SENT:
            raise
        except BaseException:
            # Anything after the connection was made may have reached Twilio. (An aiohttp
            # trace config could tell exactly when the headers left, for ~45 µs a request.)
            if exchange is not None:
                exchange.sent = True
            raise
        if exchange is not None:
            exchange.sent, exchange.status, exchange.headers = True, answer.status, answer.headers
        if logs:
            self.log_response(answer.status, answer)
        return Response(answer.status, text, answer.headers)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


@functools.lru_cache(maxsize=16)
def _basic_auth(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"
