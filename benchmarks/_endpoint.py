"""A lean fake of Twilio's create-message endpoint, for the CPU regime of the dispatch benchmark.

The Twilio sandbox is a full aiohttp application and saturates near 8,000
requests/s on one core: too close to the clients' rates to be "not the
bottleneck". This server answers a ``POST /2010-04-01/Accounts/AC.../Messages.json`` that has the
shape of Twilio's create-message request (Basic auth, a form body with ``To``,
``From`` and ``Body``) with a canned 201 Message resource (a fresh ``SM`` sid
each time), and anything else with 400 or 404, from an asyncio protocol with
httptools' parser, optionally after ``--latency-ms``. It answers on kept-alive
connections (the SDK, aiohttp) as well as on a new connection per message
(Apprise, through ``requests.post``).

``GET /stats`` answers ``{"created": N, "refused": M}``: the messages answered
201 and the requests refused so far, so a benchmark can check that every
message a contender counted as sent really reached the endpoint. With
``--distinct`` it also keeps every ``To`` it answered 201 and adds
``"distinct"`` (how many different ones) and ``"last_at"`` (``time.monotonic()``
of the last 201, comparable with a client's on the same machine) to the stats;
``DELETE /distinct`` forgets the numbers seen, so a benchmark can check that a
run sent each recipient exactly once.

Run it on its own core::

    taskset -c 1 uv run python benchmarks/_endpoint.py --port 0 [--latency-ms 150] [--distinct]

It prints ``listening on http://127.0.0.1:PORT`` and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import time

import httptools
import uvloop

ACCOUNT_SID = "AC5a4db0c05a4db0c05a4db0c05a4db0c0"
_SIDS = itertools.count(1)
_TEMPLATE = json.dumps(
    {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": "relaykit benchmark",
        "date_created": "Mon, 12 May 2025 08:00:00 +0000",
        "date_sent": None,
        "date_updated": "Mon, 12 May 2025 08:00:00 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": "+15005550006",
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": "SID_PLACEHOLDER",
        "status": "queued",
        "subresource_uris": {},
        "to": "+12125550100",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/SID_PLACEHOLDER.json",
    }
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
_REFUSED_BODY = json.dumps(
    {"code": 21604, "message": "A 'To' phone number is required.", "status": 400}
).encode()
_REFUSED = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_REFUSED_BODY)}\r\n\r\n".encode()
    + _REFUSED_BODY
)
_FORM_FIELDS = (b"To=", b"From=", b"Body=")
_MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json".encode()
_STATS = {"created": 0, "refused": 0}
_NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


class _Recipients:
    """The ``To`` of every 201 and the time of the last, kept only with ``--distinct``."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.last_at = 0.0

    def add(self, form: bytes) -> None:
        start = form.index(b"&To=") + 4
        end = form.find(b"&", start)
        self.seen.add(form[start:] if end < 0 else form[start:end])
        self.last_at = time.monotonic()


_RECIPIENTS: _Recipients | None = None


def _created() -> bytes:
    sid = f"SM{next(_SIDS):032x}"
    body = _TEMPLATE.replace("SID_PLACEHOLDER", sid).encode()
    head = (
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Protocol(asyncio.Protocol):
    def __init__(self, latency: float) -> None:
        self._latency = latency
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._authorized = False
        self._body = b""
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_message_begin(self) -> None:
        self._url = b""
        self._authorized = False
        self._body = b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"authorization" and value.startswith(b"Basic "):
            self._authorized = True

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        answer = self._answer()
        if self._latency and self._url not in (b"/stats", b"/distinct"):
            self._loop.call_later(self._latency, self._write, answer)
        else:
            self._write(answer)

    def _answer(self) -> bytes:
        method = self._parser.get_method()
        if method == b"GET" and self._url == b"/stats":
            stats: dict[str, float] = dict(_STATS)
            if _RECIPIENTS is not None:
                stats.update(distinct=len(_RECIPIENTS.seen), last_at=_RECIPIENTS.last_at)
            body = json.dumps(stats).encode()
            return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        if method == b"DELETE" and self._url == b"/distinct" and _RECIPIENTS is not None:
            _RECIPIENTS.seen.clear()
            return _NO_CONTENT
        if method != b"POST" or self._url != _MESSAGES_PATH:
            return _NOT_FOUND
        form = b"&" + self._body
        if self._authorized and all(b"&" + field in form for field in _FORM_FIELDS):
            _STATS["created"] += 1
            if _RECIPIENTS is not None:
                _RECIPIENTS.add(form)
            return _created()
        _STATS["refused"] += 1
        return _REFUSED

    def _write(self, answer: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(answer)


async def serve(port: int, latency_ms: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Protocol(latency_ms / 1000), "127.0.0.1", port, backlog=2048
    )
    print(f"listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--distinct", action="store_true", help="keep every To answered 201")
    args = parser.parse_args()
    if args.distinct:
        global _RECIPIENTS
        _RECIPIENTS = _Recipients()
    uvloop.run(serve(args.port, args.latency_ms))


if __name__ == "__main__":
    main()
