"""``authenticate`` against real relays: Connected, or the precise reason it is not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from relaykit import Channel, ConnectionState, OutboundMessage, TransientSendError
from tests.email.conftest import Relay, make_connector
from tests.email.scripted import ScriptedSink

StartRelay = Callable[..., Any]
MESSAGE = OutboundMessage(channel=Channel.EMAIL, to="parent@example.org", body="Hi", subject="Hi")


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
async def test_connected_with_each_security_mode(start_relay: StartRelay, security: str) -> None:
    relay: Relay = await start_relay(security)
    connector = relay.connector()

    status = await connector.authenticate()

    assert status.state is ConnectionState.CONNECTED, status.detail
    assert relay.sink.received == []  # the check's MAIL FROM was reset, nothing sent
    receipt = await connector.send(MESSAGE)  # and the same settings really send
    assert relay.sink.received[0].rcpt_tos == (receipt.to,)


async def test_wrong_password_is_invalid_credentials(relay: Relay) -> None:
    status = await relay.connector(password="wrong-password").authenticate()

    assert status.state is ConnectionState.INVALID_CREDENTIALS
    assert "535" in status.detail


async def test_login_required_without_credentials_is_invalid_credentials(relay: Relay) -> None:
    status = await relay.connector(username=None, password=None).authenticate()

    assert status.state is ConnectionState.INVALID_CREDENTIALS
    assert "530" in status.detail and "set username and password" in status.detail


async def test_refused_sender_is_sender_rejected(start_relay: StartRelay) -> None:
    relay: Relay = await start_relay(
        "none", ScriptedSink(mail="553 5.7.1 Sender address rejected: not owned by user")
    )

    status = await relay.connector().authenticate()

    assert status.state is ConnectionState.SENDER_REJECTED
    assert "notifications@north-high.example.com" in status.detail
    assert "553 5.7.1" in status.detail


async def test_nothing_listening_is_unreachable(relay: Relay, free_port: int) -> None:
    status = await relay.connector(port=free_port).authenticate()

    assert status.state is ConnectionState.UNREACHABLE
    assert "connection refused" in status.detail


async def test_relay_refusing_this_host_is_unreachable_naming_its_reply(
    relay: Relay, greeting_server: Callable[[str], Any]
) -> None:
    port = await greeting_server("554 5.7.1 No SMTP service here for your address")

    status = await relay.connector(port=port).authenticate()

    assert status.state is ConnectionState.UNREACHABLE
    assert "554 5.7.1 No SMTP service" in status.detail
    assert "accept this host" in status.detail


async def test_unknown_host_is_unreachable(relay: Relay) -> None:
    status = await relay.connector(
        host="relay.invalid", security="tls", ca_file=None, timeout=2
    ).authenticate()

    assert status.state is ConnectionState.UNREACHABLE


async def test_silent_server_is_unreachable(silent_port: int) -> None:
    connector = make_connector(
        {
            "host": "127.0.0.1",
            "port": silent_port,
            "security": "none",
            "from_address": "a@example.com",
            "timeout": 0.3,
        }
    )
    status = await connector.authenticate()

    assert status.state is ConnectionState.UNREACHABLE
    assert "timed out" in status.detail


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_untrusted_certificate_is_tls_failure_and_nothing_is_sent(
    start_relay: StartRelay, security: str
) -> None:
    relay: Relay = await start_relay(security)
    connector = relay.connector(ca_file=None)  # system CAs do not know the test CA

    status = await connector.authenticate()

    assert status.state is ConnectionState.TLS_FAILURE
    assert "CERTIFICATE_VERIFY_FAILED" in status.detail
    with pytest.raises(TransientSendError, match="TLS failed"):
        await connector.send(MESSAGE)
    assert relay.sink.received == []


async def test_starttls_required_but_not_offered_never_falls_back_to_clear_text(
    start_relay: StartRelay, tls: Any
) -> None:
    relay: Relay = await start_relay("none")
    connector = relay.connector(security="starttls", ca_file=str(tls.ca_file))

    status = await connector.authenticate()

    assert status.state is ConnectionState.TLS_FAILURE
    assert "does not offer STARTTLS" in status.detail
    with pytest.raises(TransientSendError, match="does not fall back to clear text"):
        await connector.send(MESSAGE)
    assert relay.sink.received == []


async def test_implicit_tls_against_a_clear_text_relay_is_tls_failure(
    start_relay: StartRelay, tls: Any
) -> None:
    relay: Relay = await start_relay("none")

    status = await relay.connector(security="tls", ca_file=str(tls.ca_file)).authenticate()

    assert status.state is ConnectionState.TLS_FAILURE


async def test_credentials_for_a_relay_without_auth_is_misconfigured(
    start_relay: StartRelay,
) -> None:
    from tests.email.conftest import PASSWORD, USERNAME

    relay: Relay = await start_relay("none", login=False)

    status = await relay.connector(username=USERNAME, password=PASSWORD).authenticate()

    assert status.state is ConnectionState.MISCONFIGURED
    assert "offers no AUTH" in status.detail
