"""A local SMTP sink: the email connector's sandbox for demos and tests.

``relaykit sandbox email --port N`` (or ``python -m relaykit_email.sandbox
--port N --data-dir D``) runs an aiosmtpd server on 127.0.0.1 that accepts
every message without authentication and keeps it: in a Maildir under the
data directory when one is given (any mail reader opens it; new mail lands
in ``new/``), else in memory. Point an email instance at it with the
settings the sandbox prints (``security: none`` is allowed on loopback).

:func:`serve_smtp` is the building block: it runs any aiosmtpd handler on the
current event loop and stops it, connections included, on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from relaykit.contract import RunningSandbox, SandboxOptions

__all__ = ["MAILDIR_NAME", "ReceivedMail", "SmtpSink", "main", "sandbox_factory", "serve_smtp"]

#: The Maildir's folder under the sandbox's data directory.
MAILDIR_NAME = "email-maildir"
SANDBOX_FROM = "notifications@example.com"
SANDBOX_TEST_RECIPIENT = "test-recipient@example.com"
_SERVER_NAME = "relaykit-sandbox"


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the sink received it: the envelope and the raw bytes after DATA."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes

    @property
    def subject(self) -> str:
        """The decoded ``Subject`` header, for summaries."""
        headers = BytesHeaderParser(policy=default_policy).parsebytes(self.content)
        return str(headers.get("Subject", ""))


class SmtpSink:
    """An aiosmtpd handler that accepts every message and keeps it.

    :param maildir: a Maildir folder to store each message in (created if
        missing); ``None`` keeps messages in :attr:`received` only.
    :param on_message: called with each message after it is stored.
    """

    def __init__(
        self,
        maildir: Path | None = None,
        on_message: Callable[[ReceivedMail], None] | None = None,
    ) -> None:
        self.received: list[ReceivedMail] = []
        self.maildir = maildir
        if maildir is not None:
            maildir.parent.mkdir(parents=True, exist_ok=True)  # Maildir creates only its own
        self._box = mailbox.Maildir(maildir, create=True) if maildir is not None else None
        self._on_message = on_message

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=envelope.original_content or b"",
        )
        if self._box is not None:
            key = await asyncio.to_thread(self._box.add, mail.content)
        else:
            key = f"m{len(self.received) + 1}"
        self.received.append(mail)
        if self._on_message is not None:
            self._on_message(mail)
        return f"250 2.0.0 Ok: queued as {key}"


@asynccontextmanager
async def serve_smtp(
    handler: object,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    implicit_tls: ssl.SSLContext | None = None,
    **smtp_options: Any,
) -> AsyncIterator[int]:
    """Run an aiosmtpd server with ``handler`` on the running loop; yield its port.

    :param port: ``0`` picks a free port.
    :param implicit_tls: a server context to speak TLS from the first byte (SMTPS).
    :param smtp_options: passed to :class:`aiosmtpd.smtp.SMTP` (``authenticator``,
        ``tls_context`` for STARTTLS, ``auth_require_tls``, ...).

    On exit the listener is closed and every open session is dropped.
    """
    smtp_options.setdefault("hostname", _SERVER_NAME)  # skips a getfqdn() per connection
    sessions: set[SMTP] = set()

    def factory() -> SMTP:
        session = SMTP(handler, **smtp_options)
        sessions.add(session)
        return session

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host, port, ssl=implicit_tls)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        tasks = []
        for session in sessions:
            if session.transport is not None:
                session.transport.close()
            # aiosmtpd runs each session as a task; wait for them so none outlives the server.
            task = getattr(session, "_handler_coroutine", None)
            if task is not None:
                tasks.append(task)
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def sandbox_factory(options: SandboxOptions) -> AbstractAsyncContextManager[RunningSandbox]:
    """The ``email`` sandbox: an SMTP sink on ``options.host:options.port``.

    Mail is stored in ``options.data_dir / "email-maildir"`` (a Maildir) when a
    data directory is given, else kept in memory until the sandbox stops.
    """
    return _sandbox(options)


@asynccontextmanager
async def _sandbox(
    options: SandboxOptions, on_message: Callable[[ReceivedMail], None] | None = None
) -> AsyncIterator[RunningSandbox]:
    maildir = options.data_dir / MAILDIR_NAME if options.data_dir is not None else None
    sink = SmtpSink(maildir, on_message)
    async with serve_smtp(sink, host=options.host, port=options.port) as port:
        where = (
            f"mail stored in the Maildir {maildir} (new mail in {maildir / 'new'})"
            if maildir is not None
            else "mail kept in memory and lost on exit; pass a data directory to keep it"
        )
        yield RunningSandbox(
            name="email",
            url=f"smtp://{options.host}:{port}",
            settings={
                "host": options.host,
                "port": port,
                "security": "none",
                "from_address": SANDBOX_FROM,
                "test_recipient": SANDBOX_TEST_RECIPIENT,
            },
            notes=(where, "no authentication; every message is accepted"),
        )


def _print_received(mail: ReceivedMail) -> None:
    print(f"received: {mail.mail_from} -> {', '.join(mail.rcpt_tos)}: {mail.subject}", flush=True)


async def _run_until_stopped(options: SandboxOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with _sandbox(options, _print_received) as running:
        print(f"email sandbox listening on {running.url}", flush=True)
        for note in running.notes:
            print(f"  {note}", flush=True)
        print("  settings: " + ", ".join(f"{k}={v}" for k, v in running.settings.items()))
        print("Ctrl-C to stop.", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """``python -m relaykit_email.sandbox [--host H] [--port N] [--data-dir D]``."""
    parser = argparse.ArgumentParser(
        prog="python -m relaykit_email.sandbox", description="Run a local SMTP sink."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 picks a free port")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep mail in a Maildir here")
    args = parser.parse_args(argv)
    asyncio.run(_run_until_stopped(SandboxOptions(args.host, args.port, args.data_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
