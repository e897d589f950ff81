"""Fixtures that build Twilio connector instances (owned by the connector work).

* ``twilio_config`` - a factory: ``twilio_config(**settings)`` validates the
  settings through the core exactly as ``relaykit.toml`` would be, and
  returns an :class:`InstanceConfig` (tenant ``north-high``, instance ``sms``).
* ``make_twilio_connector`` - a factory building connectors that are closed
  after the test.
* ``connect`` - a factory: ``connect(**settings)`` is a
  connector on the in-process ``twilio_sandbox``'s default account.
* ``sandbox_connector`` - a connector wired to the in-process ``twilio_sandbox``
  (default account, SMS and WhatsApp sender ``+15005550006``), whose
  callbacks go to ``callback_server``.
* ``callback_server`` - a real HTTP server on 127.0.0.1 standing in for
  ``relaykit serve``: it hands each webhook to the connector's
  ``handle_callback`` with the URL built from its configured public base URL,
  answers 403 on a verification error, and records every outcome.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from relaykit import (
    CallbackOutcome,
    CallbackParseError,
    CallbackRequest,
    CallbackVerificationError,
    InstanceConfig,
)
from relaykit.instances import validate_instance_settings
from relaykit_twilio import TwilioConnector

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "PUBLIC_BASE",
    "CallbackServer",
    "HandledWebhook",
    "callback_server",
    "connect",
    "documented_signature",
    "make_twilio_connector",
    "sandbox_connector",
    "twilio_config",
]

#: Settings for tests that never reach a server.
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "canary-auth-token-5f3c2a9d"
PUBLIC_BASE = "https://relay.example.org"
TENANT, INSTANCE = "north-high", "sms"


def documented_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature written from Twilio's documented algorithm, independently of the SDK.

    "Take the full URL of the request … append each POST variable, sorted
    alphabetically by name, with its value, to the end of the URL string (with
    no delimiters), sign the resulting string with HMAC-SHA1 using your
    AuthToken as the key, and Base64-encode the resulting hash value."
    """
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@pytest.fixture
def twilio_config() -> Callable[..., InstanceConfig]:
    """``twilio_config(public_base=…, **settings)`` → a validated :class:`InstanceConfig`."""

    def make(*, public_base: str | None = PUBLIC_BASE, **settings: Any) -> InstanceConfig:
        raw: dict[str, Any] = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "sms_sender": "+15005550006",
        }
        raw.update({k: v for k, v in settings.items() if v is not None})
        for name in [k for k, v in settings.items() if v is None]:
            raw.pop(name, None)
        values = validate_instance_settings(
            TwilioConnector.spec(), raw, location=f"tenants.{TENANT}.instances.{INSTANCE}.settings"
        )
        return InstanceConfig(
            tenant=TENANT,
            name=INSTANCE,
            connector="twilio",
            settings=values,
            callback_base_url=(
                f"{public_base}/webhooks/{TENANT}/{INSTANCE}" if public_base else None
            ),
        )

    return make


@pytest.fixture
async def make_twilio_connector() -> AsyncIterator[Callable[[InstanceConfig], TwilioConnector]]:
    """A factory of connectors, each closed when the test ends."""
    built: list[TwilioConnector] = []

    def make(config: InstanceConfig) -> TwilioConnector:
        connector = TwilioConnector(config)
        built.append(connector)
        return connector

    yield make
    for connector in built:
        await connector.aclose()


@pytest.fixture
def connect(
    twilio_sandbox: Any,
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
) -> Callable[..., TwilioConnector]:
    """``connect(**settings)``: a connector on the sandbox's default account."""

    def make(**settings: Any) -> TwilioConnector:
        values = {
            "account_sid": twilio_sandbox.account_sid,
            "auth_token": twilio_sandbox.auth_token,
            "api_base_url": twilio_sandbox.url,
            **settings,
        }
        return make_twilio_connector(twilio_config(**values))

    return make


@dataclass
class HandledWebhook:
    """One webhook the receiver got, and what the connector made of it."""

    request: CallbackRequest
    status: int
    outcome: CallbackOutcome | None = None
    error: Exception | None = None


@dataclass
class CallbackServer:
    """A stand-in for ``relaykit serve``'s webhook route, on a real loopback port."""

    url: str = ""
    connector: TwilioConnector | None = None
    received: list[HandledWebhook] = field(default_factory=list)

    @property
    def public_base(self) -> str:
        return self.url

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[HandledWebhook]:
        """Wait until ``count`` webhooks were handled; fail the test after ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"expected {count} webhooks, got {len(self.received)}")
            await asyncio.sleep(0.005)
        return self.received

    def outcomes(self, kind: str | None = None) -> list[CallbackOutcome]:
        return [
            r.outcome
            for r in self.received
            if r.outcome is not None and (kind is None or r.request.kind == kind)
        ]

    async def handle(self, request: web.Request) -> web.Response:
        # The public URL is rebuilt from configuration (self.url), never from Host.
        callback = CallbackRequest(
            kind=request.match_info["kind"],
            url=self.url + request.raw_path,
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
            content_type=request.content_type,
        )
        assert self.connector is not None, "set callback_server.connector first"
        try:
            outcome = await self.connector.handle_callback(callback)
        except CallbackVerificationError as exc:
            self.received.append(HandledWebhook(callback, 403, error=exc))
            return web.Response(status=403, text="forbidden")
        except CallbackParseError as exc:
            self.received.append(HandledWebhook(callback, 400, error=exc))
            return web.Response(status=400, text="bad request")
        self.received.append(HandledWebhook(callback, 200, outcome=outcome))
        return web.Response(
            body=outcome.response_body, content_type=outcome.response_content_type.split(";")[0]
        )


@pytest.fixture
async def callback_server() -> AsyncIterator[CallbackServer]:
    """A webhook receiver on a free 127.0.0.1 port; set ``.connector`` before use."""
    receiver = CallbackServer()
    app = web.Application()
    app.router.add_route("*", "/webhooks/{tenant}/{instance}/{kind}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest.fixture
def sandbox_connector(
    twilio_sandbox: Any,
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
    callback_server: CallbackServer,
) -> Iterator[TwilioConnector]:
    """A connector on the sandbox's default account; its webhooks reach ``callback_server``."""
    config = twilio_config(
        public_base=callback_server.public_base,
        account_sid=twilio_sandbox.account_sid,
        auth_token=twilio_sandbox.auth_token,
        sms_sender="+15005550006",
        whatsapp_sender="whatsapp:+15005550006",
        api_base_url=twilio_sandbox.url,
    )
    connector = make_twilio_connector(config)
    callback_server.connector = connector
    yield connector
