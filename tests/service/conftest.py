"""A live relaykit service for the tests: uvicorn on 127.0.0.1, the Twilio sandbox, an SMTP sink.

Everything runs on the test's event loop and talks over real sockets: the
sandbox posts signed callbacks to the service, the tests call it with httpx.
"""

from __future__ import annotations

import asyncio
import email
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from relaykit.delivery import Relay, RetryPolicy
from relaykit.plugins import build_plugin_host
from relaykit.service import EmbeddedServer, create_app, hash_api_key
from relaykit_email.sandbox import SmtpSink, serve_smtp
from relaykit_twilio_sandbox import IncomingNumber, TwilioSandbox, default_account

TENANT = "north-high"
OTHER_TENANT = "south-high"
KEY = "rk_test_north_0123456789abcdef"
OTHER_KEY = "rk_test_south_0123456789abcdef"
POOL = ("+15005550100",)
SCHOOL_DATA = {
    "student_name": "Jamie Rivera",
    "school_name": "North High School",
    "absence_date": "Monday 12 May 2025",
}
EVENT = "attendance_absence"


def student(
    number: str | None = "+15005550080", email: str | None = "parent@example.org"
) -> dict[str, Any]:
    phones = [{"number": number, "sms_status": "enabled"}] if number else []
    return {
        "id": "stu-1",
        "kind": "student",
        "name": "Jamie Rivera",
        "email": email,
        "phones": phones,
    }


def tenant_settings(
    sms: Mapping[str, Any], mail_port: int, key: str, pool: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "display_name": "North High School",
        "api_keys": [hash_api_key(key)],
        "instances": {
            # The sandbox is no long code: lift the default 1 SMS/s per sender.
            "sms": {"connector": "twilio", "settings": dict(sms), "rate_per_second": 1000},
            "mail": {
                "connector": "email",
                "settings": {
                    "host": "127.0.0.1",
                    "port": mail_port,
                    "security": "none",
                    "from_address": "office@northhigh.example.org",
                },
            },
        },
        "routes": {
            "default": {
                "steps": [
                    {"channel": "sms", "instance": "sms"},
                    {"channel": "email", "instance": "mail"},
                ]
            }
        },
        "two_way": {
            "permitted_roles": ["teacher"],
            "sender_pool": list(pool),
            "instance": "sms" if pool else None,
            "notify_instance": "mail",
        },
    }


@dataclass
class Service:
    """The running stack and helpers the tests read from."""

    url: str
    relay: Relay
    sandbox: TwilioSandbox
    sink: SmtpSink
    client: httpx.AsyncClient
    server: EmbeddedServer

    def auth(self, key: str = KEY) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    async def notify(self, recipient: dict[str, Any], **extra: Any) -> httpx.Response:
        body = {"event": EVENT, "recipient": recipient, "data": SCHOOL_DATA, **extra}
        return await self.client.post("/v1/notifications", json=body, headers=self.auth())

    def emails_to(self, address: str) -> list[EmailMessage]:
        return [
            email.message_from_bytes(m.content, policy=default_policy)  # type: ignore[misc]
            for m in self.sink.received
            if address in m.rcpt_tos
        ]

    def sign(self, url: str, params: Mapping[str, str]) -> dict[str, str]:
        """Headers of a webhook Twilio would send to ``url`` (signed with the sandbox's token)."""
        signature = RequestValidator(self.sandbox.auth_token).compute_signature(url, dict(params))
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }

    async def post_signed(
        self, path: str, params: Mapping[str, str], *, signed_url: str | None = None
    ) -> httpx.Response:
        """POST ``params`` to ``path``, signed over ``signed_url`` (default: the public URL)."""
        headers = self.sign(signed_url or self.relay.host.settings.public_base() + path, params)
        return await self.client.post(path, content=urlencode(params), headers=headers)

    async def raw_post(self, path: str, headers: bytes, body: bytes) -> int:
        """POST exact bytes over a plain socket (no client library tidies the headers up).

        :param headers: extra header lines, each ending in CRLF.
        :returns: the response's status code.
        """
        host, port = self.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n".encode()
                + b"Content-Type: application/x-www-form-urlencoded\r\n"
                + f"Content-Length: {len(body)}\r\n".encode()
                + headers
                + b"\r\n"
                + body
            )
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
            await writer.wait_closed()
        return int(status_line.split()[1])

    async def eventually(
        self, check: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)


MakeService = Callable[..., Awaitable[Service]]


class SlowSink(SmtpSink):
    """An SMTP sink that takes ``delay`` seconds to accept each message."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


class HoldingSink(SmtpSink):
    """A slow relay that keeps each message at once but holds its 250 for ``delay`` seconds.

    A client that hangs up while waiting has still had its message delivered.
    """

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return reply


class DeferringSink(SmtpSink):
    """A slow relay: holds each DATA ``delay`` seconds, then defers a recipient's first (451)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.deferred: set[tuple[str, ...]] = set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        recipients = tuple(envelope.rcpt_tos)
        if recipients not in self.deferred:
            self.deferred.add(recipients)
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


Cleanups = list[Callable[[], Awaitable[object]]]


async def start_service(
    data_dir: Path,
    cleanups: Cleanups,
    *,
    sms_settings: Mapping[str, Any] | None = None,
    public_base_url: str | None = None,
    sink: SmtpSink | None = None,
    callback_budget_s: float = 5.0,
    connection_ttl_s: float = 30.0,
    max_body_bytes: int | None = None,
    pool: tuple[str, ...] = (),
    drain_timeout_s: float = 30.0,
    delivery: Mapping[str, Any] | None = None,
    database_url: str | None = None,
    events: Mapping[str, Any] | None = None,
    tenant_events: Mapping[str, Any] | None = None,
) -> Service:
    """Start the sandbox, the sink and the service; ``cleanups`` gets what stops them, in order.

    :param database_url: the store (default: a SQLite file in ``data_dir``).
    :param events: declared events of every tenant (``[events]``).
    :param tenant_events: declared events of ``north-high`` alone.
    """
    server = EmbeddedServer()
    public = public_base_url or server.url
    account = default_account()
    inbound_url = f"{public}/webhooks/{TENANT}/sms/inbound"
    for number in account.numbers:
        number.sms_url = inbound_url
    account.numbers += [IncomingNumber(n, sms_url=inbound_url) for n in pool]
    sandbox = TwilioSandbox(accounts=[account], callback_delay=0.005)
    await sandbox.start()
    cleanups.append(sandbox.stop)
    sink = sink or SmtpSink()
    smtp = serve_smtp(sink)
    mail_port = await smtp.__aenter__()
    cleanups.append(lambda: smtp.__aexit__(None, None, None))
    sms = {
        "account_sid": sandbox.account_sid,
        "auth_token": sandbox.auth_token,
        "sms_sender": "+15005550006",
        "whatsapp_sender": "+15005550006",
        "api_base_url": sandbox.url,
        "allowed_countries": ["US", "GB"],
        **(sms_settings or {}),
    }
    relay = Relay.from_config(
        None,
        plugins=build_plugin_host(strict=True),
        retry=RetryPolicy(max_attempts=2, base_delay=0.01),
        data_dir=data_dir,
        database_url=database_url,
        public_base_url=public,
        service={"max_body_bytes": max_body_bytes} if max_body_bytes else {},
        delivery=dict(delivery or {}),
        tenants={
            TENANT: {
                **tenant_settings(sms, mail_port, KEY, pool),
                "events": dict(tenant_events or {}),
            },
            OTHER_TENANT: tenant_settings(sms, mail_port, OTHER_KEY),
        },
        events=dict(events or {}),
    )
    app = create_app(
        relay,
        callback_budget_s=callback_budget_s,
        connection_ttl_s=connection_ttl_s,
        drain_timeout_s=drain_timeout_s,
    )
    cleanups.append(relay.aclose)
    serving = server.serving(app)
    await serving.__aenter__()
    cleanups.append(lambda: serving.__aexit__(None, None, None))
    client = httpx.AsyncClient(base_url=server.url, timeout=20)
    cleanups.append(client.aclose)
    return Service(server.url, relay, sandbox, sink, client, server)


async def stop_all(cleanups: Cleanups) -> None:
    for cleanup in reversed(cleanups):
        await cleanup()


@pytest.fixture
async def make_service(tmp_path: Path) -> AsyncIterator[MakeService]:
    """``await make_service(...)`` starts the sandbox, the sink and the service; all stop after."""
    cleanups: Cleanups = []
    count = 0

    async def make(**options: Any) -> Service:
        nonlocal count
        count += 1
        return await start_service(tmp_path / f"data{count}", cleanups, **options)

    yield make
    await stop_all(cleanups)


@pytest.fixture
async def service(make_service: MakeService) -> Service:
    """The default stack: public base URL = the service's own loopback URL."""
    return await make_service()
