"""Each way a send can fail, against a real relay, maps to the right error kind.

Nothing is reported as sent unless the relay answered 250 to the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from relaykit import (
    AmbiguousSendError,
    AuthenticationError,
    Channel,
    ConnectorError,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
)
from tests.email.conftest import PASSWORD, USERNAME, Relay, make_connector
from tests.email.scripted import DROP, HANG, ScriptedSink

MESSAGE = OutboundMessage(
    channel=Channel.EMAIL, to="parent@example.org", body="Hello", subject="Hi", reference="m-1"
)

StartRelay = Callable[..., Any]


async def send_failure(relay: Relay, **overrides: Any) -> ConnectorError:
    with pytest.raises(ConnectorError) as raised:
        await relay.connector(**overrides).send(MESSAGE)
    return raised.value


async def test_wrong_password_is_an_authentication_error(relay: Relay) -> None:
    error = await send_failure(relay, password="not-the-password")

    assert type(error) is AuthenticationError
    assert error.provider_code == "535"
    assert "5.7.8" in str(error)
    assert relay.sink.received == []


@pytest.mark.parametrize(
    ("script", "code", "kind"),
    [
        ({"mail": "421 4.3.2 Service shutting down"}, "421", TransientSendError),
        ({"mail": "451 4.7.1 Greylisted, try again in 5 minutes"}, "451", TransientSendError),
        ({"rcpt": "452 4.2.2 Mailbox full"}, "452", TransientSendError),
        ({"data": "451 4.3.0 Temporary local problem"}, "451", TransientSendError),
        (
            {"mail": "553 5.7.1 Sender address rejected: not owned by user"},
            "553",
            PermanentSendError,
        ),
        (
            {"rcpt": "550 5.1.1 <parent@example.org>: Recipient address rejected"},
            "550",
            PermanentSendError,
        ),
        ({"data": "554 5.7.1 Message rejected as spam"}, "554", PermanentSendError),
    ],
    ids=["421-mail", "451-mail", "452-rcpt", "451-data", "553-mail", "550-rcpt", "554-data"],
)
async def test_smtp_replies_map_by_class(
    start_relay: StartRelay, script: dict[str, str], code: str, kind: type[ConnectorError]
) -> None:
    relay: Relay = await start_relay("none", ScriptedSink(**script))

    error = await send_failure(relay)

    assert type(error) is kind
    assert error.provider_code == code
    server_text = next(iter(script.values())).split(" ", 1)[1]
    assert server_text in str(error)  # the relay's own words reach the operator
    assert relay.sink.received == []


async def test_login_required_but_no_credentials_is_an_authentication_error(
    relay: Relay,
) -> None:
    error = await send_failure(relay, username=None, password=None)

    assert type(error) is AuthenticationError
    assert error.provider_code == "530"


async def test_credentials_for_a_relay_without_auth_is_an_authentication_error(
    start_relay: StartRelay,
) -> None:
    relay: Relay = await start_relay("none", login=False)

    error = await send_failure(relay, username=USERNAME, password=PASSWORD)

    assert type(error) is AuthenticationError
    assert "offers no AUTH" in str(error)
    assert relay.sink.received == []


@pytest.mark.parametrize(
    ("greeting", "kind"),
    [
        ("554 5.7.1 No SMTP service here for your address", PermanentSendError),
        ("421 4.3.2 Too many connections, try later", TransientSendError),
    ],
)
async def test_refusing_greeting_maps_by_class(
    relay: Relay,
    greeting_server: Callable[[str], Any],
    greeting: str,
    kind: type[ConnectorError],
) -> None:
    port = await greeting_server(greeting)

    error = await send_failure(relay, port=port)

    assert type(error) is kind
    assert error.provider_code == greeting[:3]
    assert greeting[4:] in str(error)


async def test_connection_refused_is_transient(relay: Relay, free_port: int) -> None:
    error = await send_failure(relay, port=free_port)

    assert type(error) is TransientSendError
    assert "connection refused" in str(error)


async def test_silent_server_times_out_as_transient(silent_port: int) -> None:
    connector = make_connector(
        {
            "host": "127.0.0.1",
            "port": silent_port,
            "security": "none",
            "from_address": "a@example.com",
            "timeout": 0.3,
        }
    )
    with pytest.raises(ConnectorError) as raised:
        await connector.send(MESSAGE)

    assert type(raised.value) is TransientSendError
    assert "timed out" in str(raised.value)


async def test_connection_dropped_before_data_is_transient(start_relay: StartRelay) -> None:
    sink = ScriptedSink(rcpt=DROP)
    relay: Relay = await start_relay("none", sink)

    error = await send_failure(relay)

    assert type(error) is TransientSendError
    assert sink.seen_data == []


async def test_connection_dropped_after_data_is_ambiguous(start_relay: StartRelay) -> None:
    """The relay got the whole message, then vanished before answering: maybe sent."""
    sink = ScriptedSink(data=DROP)
    relay: Relay = await start_relay("none", sink)

    error = await send_failure(relay)

    assert type(error) is AmbiguousSendError
    assert isinstance(error, TransientSendError)  # hosts that only know "transient" still retry
    assert b"Subject: Hi" in sink.seen_data[0]
    assert "may have been accepted" in str(error)


async def test_no_answer_after_data_is_ambiguous(start_relay: StartRelay) -> None:
    sink = ScriptedSink(data=HANG)
    relay: Relay = await start_relay("none", sink)

    error = await send_failure(relay, timeout=0.3)

    assert type(error) is AmbiguousSendError
    assert len(sink.seen_data) == 1


async def test_unsafe_recipient_is_refused_before_connecting(free_port: int, relay: Relay) -> None:
    """Validation happens first: the (unreachable) relay is never contacted."""
    connector = relay.connector(port=free_port)
    for bad in ("not-an-address", "Parent <parent@example.org>", "parent@localhost"):
        with pytest.raises(PermanentSendError, match=r"email: refused to send: to is not a valid"):
            await connector.send(
                OutboundMessage(channel=Channel.EMAIL, to=bad, body="x", subject="x")
            )


async def test_sms_message_is_refused(relay: Relay) -> None:
    with pytest.raises(PermanentSendError, match="sends only email"):
        await relay.connector().send(
            OutboundMessage(channel=Channel.SMS, to="+15005550006", body="x")
        )
    assert relay.sink.received == []
