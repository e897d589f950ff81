"""Real SMTP servers (aiosmtpd on 127.0.0.1) and email connector instances for the tests.

Every server picks a free port, runs on the test's event loop and stops,
connections included, when the test ends.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from relaykit import InstanceConfig
from relaykit.instances import validate_instance_settings
from relaykit_email import EmailConnector
from relaykit_email.sandbox import SmtpSink, serve_smtp

USERNAME = "relay-user@example.org"
#: canary password: its raw, URL-encoded, hex and base64 forms all differ
PASSWORD = "Cn9-x7/Qz+Kp@w=3&R%canary"
BOUNCE_SECRET = "bounce-secret-4f1e9a7c2b"
FROM_ADDRESS = "notifications@north-high.example.com"


def pytest_configure(config: pytest.Config) -> None:
    # The loopback test relays take AUTH in clear text on purpose (as `security: none` does).
    config.addinivalue_line("filterwarnings", "ignore:Requiring AUTH while not requiring TLS")


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    """Accepts USERNAME/PASSWORD only; handled=False lets aiosmtpd answer 235 or 535."""
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == USERNAME.encode() and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class Relay:
    """A running test relay: where it listens and what it received."""

    port: int
    sink: SmtpSink
    security: str
    ca_file: Path | None = None
    needs_login: bool = True
    logins: list[str] = field(default_factory=list)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Valid instance settings for this relay; ``None`` values drop a setting."""
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "security": self.security,
            "from_address": FROM_ADDRESS,
            "from_name": "North High School",
            "timeout": 5,
            "bounce_secret": BOUNCE_SECRET,
        }
        if self.needs_login:
            values |= {"username": USERNAME, "password": PASSWORD}
        if self.ca_file is not None:
            values["ca_file"] = str(self.ca_file)
        values.update(overrides)
        return {k: v for k, v in values.items() if v is not None}

    def connector(self, **overrides: Any) -> EmailConnector:
        return make_connector(self.settings(**overrides))


def make_connector(raw: dict[str, Any]) -> EmailConnector:
    """Build the connector the way the host does: settings validated against the spec first."""
    settings = validate_instance_settings(EmailConnector.spec(), raw)
    return EmailConnector(
        InstanceConfig(
            tenant="north-high",
            name="email",
            connector="email",
            settings=settings,
            callback_base_url="https://relay.example.org/webhooks/north-high/email",
        )
    )


@dataclass(frozen=True)
class TlsFiles:
    server_context: ssl.SSLContext
    ca_file: Path


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and a certificate for 127.0.0.1/localhost signed by it."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TlsFiles(context, ca_file)


@pytest.fixture
async def start_relay(tls: TlsFiles) -> AsyncIterator[Callable[..., Any]]:
    """``await start_relay(security, handler=None, login=True, **smtp_options)`` -> :class:`Relay`.

    ``security`` is how the server speaks: ``none`` (AUTH allowed in clear,
    as on loopback), ``starttls`` (STARTTLS required before MAIL and AUTH) or
    ``tls`` (TLS from the first byte). ``login=False`` starts a relay that
    offers no AUTH and accepts anyone, like the sandbox.
    """
    async with AsyncExitStack() as stack:

        async def start(
            security: str = "none",
            handler: SmtpSink | None = None,
            *,
            login: bool = True,
            **smtp_options: Any,
        ) -> Relay:
            sink = handler if handler is not None else SmtpSink()
            options: dict[str, Any] = {}
            if login:
                options |= {"authenticator": authenticator, "auth_required": True}
            if security == "starttls":
                options |= {"tls_context": tls.server_context, "require_starttls": True}
            elif login:
                options["auth_require_tls"] = False
            # else: aiosmtpd offers no AUTH at all on a connection it does not see as TLS
            options.update(smtp_options)
            implicit = tls.server_context if security == "tls" else None
            port = await stack.enter_async_context(
                serve_smtp(sink, implicit_tls=implicit, **options)
            )
            ca_file = tls.ca_file if security != "none" else None
            return Relay(port, sink, security, ca_file=ca_file, needs_login=login)

        yield start


@pytest.fixture
async def relay(start_relay: Callable[..., Any]) -> Relay:
    """The default test relay: clear text on loopback, AUTH required."""
    relay: Relay = await start_relay("none")
    return relay


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def greeting_server() -> AsyncIterator[Callable[[str], Any]]:
    """``await greeting_server("554 5.7.1 no")`` -> a port whose server greets so, then hangs up."""
    servers: list[asyncio.Server] = []

    async def start(greeting: str) -> int:
        async def greet(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(greeting.encode() + b"\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(greet, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never says a word (no SMTP greeting)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()
