"""Talking SMTP to the relay (aiosmtplib): one connection per send or check.

Every failure comes out as an :class:`SmtpFailure` saying in which phase of
the session it happened and what kind of failure it was; ``_outcomes`` turns
that into the connector's error or connection state.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, suppress
from typing import TypeVar

import aiosmtplib

from relaykit_email._compose import ComposedMessage
from relaykit_email._settings import EmailSettings

__all__ = ["FailureKind", "Phase", "SmtpFailure", "SmtpRelay"]

T = TypeVar("T")
_QUIT_TIMEOUT = 2.0


class Phase(enum.StrEnum):
    """Where in the session something happened."""

    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    NOOP = "noop"


class FailureKind(enum.StrEnum):
    UNREACHABLE = "unreachable"  # refused, no route, name not found
    TIMEOUT = "timeout"
    DISCONNECTED = "disconnected"
    TLS = "tls"  # handshake or certificate failure
    NO_STARTTLS = "no_starttls"  # security=starttls but the server does not offer it
    NO_AUTH = "no_auth"  # credentials configured but the server offers no AUTH
    REPLY = "reply"  # the server answered with an error code
    PROTOCOL = "protocol"  # anything else aiosmtplib refused


class SmtpFailure(Exception):
    """A session failed: in ``phase``, of ``kind``; ``code``/``text`` when the server said."""

    def __init__(self, phase: Phase, kind: FailureKind, text: str, code: int | None = None):
        super().__init__(phase, kind, text, code)
        self.phase = phase
        self.kind = kind
        self.text = text
        self.code = code

    def __str__(self) -> str:
        reply = f"{self.code} {self.text}" if self.code is not None else self.text
        return f"{self.kind} during {self.phase}: {reply}"


class SmtpRelay:
    """The configured relay. Cheap per message: the TLS context and EHLO name are built once."""

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings
        self._tls_context: ssl.SSLContext | None = None
        self._ehlo_name: str | None = None

    @property
    def address(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    async def deliver(self, message: ComposedMessage) -> str:
        """Send one message; return the server's final reply text.

        :raises SmtpFailure: nothing was accepted (or, in phase ``data`` with a
            timeout or disconnect, it is unknown whether it was).
        """
        async with self._session() as client:
            await _step(Phase.MAIL, client.mail(message.envelope_sender))
            await _step(Phase.RCPT, client.rcpt(message.recipient))
            reply = await _step(Phase.DATA, client.data(message.content))
            return reply.message

    async def probe(self) -> None:
        """Connect, TLS, log in, NOOP, then ``MAIL FROM`` + ``RSET`` to test the sender."""
        async with self._session() as client:
            await _step(Phase.NOOP, client.noop())
            await _step(Phase.MAIL, client.mail(self._settings.envelope_sender))
            await _step(Phase.NOOP, client.rset())

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiosmtplib.SMTP]:
        settings = self._settings
        if self._ehlo_name is None:
            self._ehlo_name = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            use_tls=settings.security == "tls",
            start_tls=False,  # done below, so a missing STARTTLS is our error, not a downgrade
            tls_context=self._tls() if settings.security != "none" else None,
            timeout=settings.timeout,
            local_hostname=self._ehlo_name,
        )
        try:
            await _step(Phase.CONNECT, client.connect())
            await _step(Phase.CONNECT, client.ehlo())
            if settings.security == "starttls":
                if not client.supports_extension("starttls"):
                    raise SmtpFailure(
                        Phase.TLS, FailureKind.NO_STARTTLS, "the server does not offer STARTTLS"
                    )
                await _step(Phase.TLS, client.starttls())
                await _step(Phase.TLS, client.ehlo())
            if settings.username is not None and settings.password is not None:
                if not client.supports_extension("auth"):
                    raise SmtpFailure(Phase.AUTH, FailureKind.NO_AUTH, "the server offers no AUTH")
                await _step(
                    Phase.AUTH,
                    client.login(settings.username, settings.password.get_secret_value()),
                )
            yield client
            # The work is done: a slow or failed QUIT changes nothing, so do not wait long.
            with suppress(aiosmtplib.SMTPException, OSError):
                await client.quit(timeout=min(settings.timeout, _QUIT_TIMEOUT))
        finally:
            client.close()

    def _tls(self) -> ssl.SSLContext:
        if self._tls_context is None:
            ca_file = self._settings.ca_file
            self._tls_context = ssl.create_default_context(
                cafile=str(ca_file) if ca_file is not None else None
            )
        return self._tls_context


async def _step(phase: Phase, call: Awaitable[T]) -> T:
    """Await one SMTP command; any failure becomes an :class:`SmtpFailure` of ``phase``."""
    try:
        return await call
    except SmtpFailure:
        raise
    except aiosmtplib.SMTPResponseException as exc:
        raise SmtpFailure(phase, FailureKind.REPLY, exc.message, exc.code) from exc
    except aiosmtplib.SMTPTimeoutError as exc:
        raise SmtpFailure(phase, FailureKind.TIMEOUT, str(exc)) from exc
    except (aiosmtplib.SMTPConnectError, ssl.SSLError) as exc:
        tls = _ssl_cause(exc)
        if tls is not None:
            raise SmtpFailure(phase, FailureKind.TLS, tls) from exc
        raise SmtpFailure(phase, FailureKind.UNREACHABLE, _os_reason(exc)) from exc
    except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
        raise SmtpFailure(phase, FailureKind.DISCONNECTED, str(exc) or "connection lost") from exc
    except aiosmtplib.SMTPException as exc:
        raise SmtpFailure(phase, FailureKind.PROTOCOL, exc.message) from exc
    except OSError as exc:
        raise SmtpFailure(phase, FailureKind.UNREACHABLE, _os_reason(exc)) from exc


def _ssl_cause(exc: BaseException) -> str | None:
    """The TLS reason if ``exc`` is, or was caused by, an SSL error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen.reason or seen.strerror or type(seen).__name__
        seen = seen.__cause__
    return None


def _os_reason(exc: BaseException) -> str:
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    if isinstance(cause, socket.gaierror):
        return "host name not found"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    return str(cause.strerror or cause) if isinstance(cause, OSError) else str(cause)
