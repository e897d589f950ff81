"""The delivery engine end to end: real connectors, the Twilio sandbox, an aiosmtpd sink, webhooks.

Status and inbound webhooks travel over real HTTP: the sandbox posts them,
signed, to a small aiohttp receiver that hands them to ``Relay.handle_webhook``
exactly as the HTTP service will.
"""

from __future__ import annotations

import copy
import email
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from relaykit import CallbackRequest, CallbackVerificationError
from relaykit.delivery import Relay, RetryPolicy
from relaykit.plugins import build_plugin_host
from relaykit_email.sandbox import SmtpSink, serve_smtp
from relaykit_twilio_sandbox import IncomingNumber, TwilioSandbox, default_account

TENANT = "north-high"
POOL = ("+15005550100", "+15005550101")
SCHOOL_DATA = {
    "student_name": "Jamie Rivera",
    "school_name": "North High School",
    "absence_date": "Monday 12 May 2025",
}


@dataclass
class Stack:
    """A relay wired to the sandbox and the SMTP sink, with helpers tests read from."""

    relay: Relay
    sandbox: TwilioSandbox
    sink: SmtpSink
    webhook_url: str
    webhook_statuses: list[int] = field(default_factory=list)
    smtp_port: int = 0

    def emails_to(self, address: str) -> list[EmailMessage]:
        return [
            email.message_from_bytes(m.content, policy=default_policy)  # type: ignore[misc]
            for m in self.sink.received
            if address in m.rcpt_tos
        ]

    async def settle(self) -> None:
        await self.sandbox.settle()


def base_tenant() -> dict[str, Any]:
    return {
        "display_name": "North High School",
        "time_zone": "Europe/London",
        "instances": {},
        "routes": {
            "default": {
                "steps": [
                    {"channel": "sms", "instance": "sms"},
                    {"channel": "email", "instance": "mail"},
                ]
            }
        },
        "two_way": {
            "permitted_roles": ["teacher", "admin"],
            "sender_pool": list(POOL),
            "instance": "sms",
            "notify_instance": "mail",
        },
    }


def student(
    *phones: dict[str, Any], email: str | None = "parent@example.org", **extra: Any
) -> dict[str, Any]:
    return {
        "id": "stu-1",
        "kind": "student",
        "name": "Jamie Rivera",
        "email": email,
        "phones": list(phones),
        **extra,
    }


def phone(
    number: str, status: str = "enabled", type: str = "mobile", verified: str | None = None
) -> dict[str, Any]:
    return {"number": number, "sms_status": status, "type": type, "verified_at": verified}


MakeStack = Callable[..., Awaitable[Stack]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def make_stack(tmp_path: Path) -> AsyncIterator[MakeStack]:
    """``await make_stack(tenant_changes=..., sms_settings=...)`` builds and starts everything."""
    relays: list[Relay] = []
    cleanups: list[Any] = []
    holder: dict[str, Relay] = {}
    statuses: list[int] = []

    async def webhook(request: web.Request) -> web.Response:
        relay = holder["relay"]
        body = await request.read()
        callback = CallbackRequest(
            kind=request.match_info["kind"],
            url=public_url + request.path_qs,
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            content_type=request.content_type,
        )
        try:
            outcome = await relay.handle_webhook(
                request.match_info["tenant"], request.match_info["instance"], callback
            )
        except CallbackVerificationError:
            statuses.append(403)
            return web.Response(status=403)
        statuses.append(200)
        return web.Response(body=outcome.response_body, content_type=outcome.response_content_type)

    app = web.Application()
    app.router.add_post("/webhooks/{tenant}/{instance}/{kind}", webhook)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    public_url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def make(
        tenant_changes: dict[str, Any] | None = None,
        sms_settings: dict[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        *,
        inline: bool = True,
        smtp_running: bool = True,
        settings: dict[str, Any] | None = None,
    ) -> Stack:
        account = default_account()
        inbound_url = f"{public_url}/webhooks/{TENANT}/sms/inbound"
        for number in account.numbers:
            number.sms_url = inbound_url
        account.numbers += [IncomingNumber(n, sms_url=inbound_url) for n in POOL]
        sandbox = TwilioSandbox(accounts=[account], callback_delay=0.005)
        await sandbox.start()
        cleanups.append(sandbox.stop)
        sink = SmtpSink()
        if smtp_running:
            smtp = serve_smtp(sink)
            smtp_port = await smtp.__aenter__()
            cleanups.append(lambda: smtp.__aexit__(None, None, None))
        else:
            smtp_port = free_port()

        tenant = base_tenant()
        tenant["instances"] = {
            "sms": {
                "connector": "twilio",
                "rate_per_second": 1000,
                "burst": 100,
                "settings": {
                    "account_sid": sandbox.account_sid,
                    "auth_token": sandbox.auth_token,
                    "sms_sender": "+15005550006",
                    "whatsapp_sender": "+15005550006",
                    "api_base_url": sandbox.url,
                    "allowed_countries": ["US", "GB"],
                    **(sms_settings or {}),
                },
            },
            "mail": {
                "connector": "email",
                "settings": {
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "security": "none",
                    "from_address": "office@northhigh.example.org",
                    "from_name": "North High School",
                },
            },
        }
        for key, value in copy.deepcopy(tenant_changes or {}).items():
            if isinstance(value, dict) and isinstance(tenant.get(key), dict):
                tenant[key].update(value)
            else:
                tenant[key] = value
        relay = Relay.from_config(
            None,
            plugins=build_plugin_host(strict=True),
            retry=retry or RetryPolicy(max_attempts=3, base_delay=0.01),
            inline=inline,
            data_dir=tmp_path / f"data{len(relays)}",
            public_base_url=public_url,
            tenants={TENANT: tenant},
            **(settings or {}),
        )
        relays.append(relay)
        holder["relay"] = relay
        return Stack(relay, sandbox, sink, public_url, statuses, smtp_port)

    yield make
    for relay in relays:
        await relay.aclose()
    for cleanup in reversed(cleanups):
        await cleanup()
    await runner.cleanup()
