"""PITFALLS 3: the SMTP password never shows up, in any encoding, anywhere relaykit writes.

SMTP carries the password base64-encoded (``AUTH PLAIN`` = base64 of
``\\0user\\0password``; ``AUTH LOGIN`` = base64 of the password alone); a
debug trace of the conversation - smtplib's ``set_debuglevel``, or the wire
tap below - shows it. The forms searched for are computed here,
independently of relaykit's redactor.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import structlog

from relaykit import Channel, ConnectionState, ConnectorError, OutboundMessage
from relaykit.redaction import REDACTED
from relaykit.testing import captured_logs
from tests.email.conftest import PASSWORD, USERNAME, Relay

WRONG_PASSWORD = "Wr0ng-pa55/w+rd=canary%2"
MESSAGE = OutboundMessage(channel=Channel.EMAIL, to="parent@example.org", body="Hi", subject="Hi")
StartRelay = Callable[..., Any]


def leaked_forms(secret: str, user: str = USERNAME) -> dict[str, str]:
    """Every form the secret can take in output, by name."""
    raw = secret.encode()
    forms = {
        "raw": secret,
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "base64": base64.b64encode(raw).decode(),
        "AUTH PLAIN blob": base64.b64encode(b"\0" + user.encode() + b"\0" + raw).decode(),
    }
    for offset in range(3):  # base64 of the secret inside a longer blob, at each alignment
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        first_group, last_group = (1 if offset else 0), (offset + len(raw)) // 3
        forms[f"base64 core +{offset}"] = encoded[first_group * 4 : last_group * 4]
    return forms


def assert_absent(text: str, secret: str, where: str) -> None:
    for name, form in leaked_forms(secret).items():
        assert form not in text, f"password leaked into {where} as {name}"


@pytest.fixture
def smtp_debug_logging() -> Iterator[None]:
    """aiosmtpd (logger ``mail.log``) and aiosmtplib at DEBUG, as someone debugging would set."""
    loggers = [logging.getLogger(name) for name in ("mail.log", "aiosmtplib", "asyncio")]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield
    for lg, level in zip(loggers, saved, strict=True):
        lg.setLevel(level)


@pytest.fixture
async def wire_tap() -> AsyncIterator[Callable[[int], Any]]:
    """``await wire_tap(port)`` -> a port that forwards to ``port`` and logs every byte at DEBUG.

    A stand-in for an SMTP debug trace: it logs through the stdlib logger
    ``smtp.wire``, as smtplib's debug output or a verbose relay would.
    """
    wire = logging.getLogger("smtp.wire")
    servers: list[asyncio.Server] = []
    streams: list[asyncio.StreamWriter] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tag: str) -> None:
        while data := await reader.read(4096):
            wire.debug("%s %r", tag, data)
            writer.write(data)
        writer.close()

    async def tap(port: int) -> int:
        async def forward(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", port)
            streams.extend((client_w, server_w))
            await asyncio.gather(
                pipe(client_r, server_w, "send:"), pipe(server_r, client_w, "reply:")
            )

        server = await asyncio.start_server(forward, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield tap
    for server in servers:
        server.close()
    for stream in streams:
        stream.close()
    for server in servers:
        await server.wait_closed()


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
async def test_password_never_leaks_through_debug_logs_errors_or_reprs(
    start_relay: StartRelay,
    wire_tap: Callable[[int], Any],
    smtp_debug_logging: None,
    capsys: pytest.CaptureFixture[str],
    mechanism: str,
) -> None:
    other = "PLAIN" if mechanism == "LOGIN" else "LOGIN"
    relay: Relay = await start_relay("none", auth_exclude_mechanism=[other])
    tapped = await wire_tap(relay.port)
    texts: list[str] = []
    with captured_logs("debug") as logs:
        log = structlog.get_logger("test")
        good = relay.connector(port=tapped)
        status = await good.authenticate()
        receipt = await good.send(MESSAGE)
        log.info("sent", receipt=receipt, connector=good, settings=good.settings)

        bad = relay.connector(port=tapped, password=WRONG_PASSWORD)
        failed = await bad.authenticate()
        try:
            await bad.send(MESSAGE)
        except ConnectorError as exc:
            texts += [str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__)]
            log.exception("send_failed", connector=bad)
        texts += [status.detail, failed.detail, repr(good), repr(bad), repr(good.config)]

    output = logs.getvalue()
    captured = capsys.readouterr()
    # the check is meaningful: both logins happened, over the mechanism under test, at DEBUG
    assert status.state is ConnectionState.CONNECTED
    assert failed.state is ConnectionState.INVALID_CREDENTIALS
    assert len(relay.sink.received) == 1
    assert f"send: b'AUTH {mechanism}" in output  # the wire trace ran at DEBUG...
    assert REDACTED in output  # ...showed the password's base64, and the redactor caught it
    assert "send_failed" in output and "535" in output
    everything = "\n".join([output, captured.out, captured.err, *texts])
    for secret in (PASSWORD, WRONG_PASSWORD):
        assert_absent(everything, secret, f"AUTH {mechanism} session output")


def test_the_search_would_find_an_auth_plain_leak() -> None:
    """The forms above do catch the blob smtplib's debug output shows (PITFALLS 3)."""
    blob = base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode()
    login_answer = base64.b64encode(PASSWORD.encode()).decode()

    for leak in (f"send: 'AUTH PLAIN {blob}\\r\\n'", f">> b'{login_answer}'"):
        with pytest.raises(AssertionError, match="password leaked"):
            assert_absent(leak, PASSWORD, "a debug line")
