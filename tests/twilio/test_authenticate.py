"""``authenticate`` against the sandbox: each outcome is a status with a fix, never an exception."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from relaykit import ConnectionState
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import DEFAULT_MESSAGING_SERVICE_SID, TwilioSandbox, WhatsAppSender

MakeConnector = Callable[..., TwilioConnector]


async def test_connected_with_an_owned_sms_capable_number(connect: MakeConnector) -> None:
    status = await connect(sms_sender="+15005550006").authenticate()
    assert status.state is ConnectionState.CONNECTED
    assert "sms_sender +15005550006" in status.detail


async def test_connected_with_a_messaging_service(connect: MakeConnector) -> None:
    status = await connect(sms_sender=DEFAULT_MESSAGING_SERVICE_SID).authenticate()
    assert status.connected, status.detail


async def test_connected_with_an_alphanumeric_sender(connect: MakeConnector) -> None:
    assert (await connect(sms_sender="NorthHigh").authenticate()).connected


async def test_bad_token_is_invalid_credentials(connect: MakeConnector) -> None:
    status = await connect(auth_token="0" * 32).authenticate()
    assert status.state is ConnectionState.INVALID_CREDENTIALS
    assert "copy both again from the Twilio Console" in status.detail
    assert "20003" in status.detail
    assert "0" * 32 not in status.detail


async def test_unknown_account_is_invalid_credentials(connect: MakeConnector) -> None:
    status = await connect(account_sid="AC" + "f" * 32).authenticate()
    assert status.state is ConnectionState.INVALID_CREDENTIALS


async def test_a_number_the_account_does_not_own_is_sender_not_verified(
    connect: MakeConnector,
) -> None:
    status = await connect(sms_sender="+15005559999").authenticate()
    assert status.state is ConnectionState.SENDER_NOT_VERIFIED
    assert "sms_sender +15005559999 is not a phone number of account" in status.detail


async def test_a_voice_only_number_is_sender_not_verified(connect: MakeConnector) -> None:
    status = await connect(sms_sender="+15005550007").authenticate()
    assert status.state is ConnectionState.SENDER_NOT_VERIFIED
    assert "is not SMS-capable" in status.detail


async def test_an_unknown_messaging_service_is_sender_not_verified(connect: MakeConnector) -> None:
    missing = "MG" + "9" * 32
    status = await connect(sms_sender=missing).authenticate()
    assert status.state is ConnectionState.SENDER_NOT_VERIFIED
    assert f"{missing} is no Messaging Service of account" in status.detail


async def test_the_whatsapp_sender_is_checked_too(connect: MakeConnector) -> None:
    status = await connect(whatsapp_sender="whatsapp:+15005559998").authenticate()
    assert status.state is ConnectionState.SENDER_NOT_VERIFIED
    assert "whatsapp_sender +15005559998" in status.detail


async def test_whatsapp_senders_need_no_sms_capability_and_the_shared_sandbox_passes(
    connect: MakeConnector, twilio_sandbox: TwilioSandbox
) -> None:
    # A voice-only number with an Online WhatsApp sender: approval is what counts.
    twilio_sandbox.default_account.whatsapp_senders.append(WhatsAppSender("+15005550007"))
    voice_only = await connect(whatsapp_sender="whatsapp:+15005550007").authenticate()
    assert voice_only.connected, voice_only.detail
    shared = await connect(whatsapp_sender="whatsapp:+14155238886").authenticate()
    assert shared.connected, shared.detail


@pytest.mark.parametrize("account_status", ["suspended", "closed"])
async def test_a_suspended_or_closed_account_has_its_own_reason(
    connect: MakeConnector, twilio_sandbox: TwilioSandbox, account_status: str
) -> None:
    twilio_sandbox.default_account.status = account_status  # type: ignore[assignment]
    status = await connect().authenticate()
    assert status.state is ConnectionState.ACCOUNT_SUSPENDED
    assert f"is {account_status}" in status.detail


async def test_no_sender_at_all_is_misconfigured(connect: MakeConnector) -> None:
    status = await connect(sms_sender=None).authenticate()
    assert status.state is ConnectionState.MISCONFIGURED
    assert "set sms_sender and/or whatsapp_sender" in status.detail


async def test_a_closed_port_is_unreachable_not_an_exception(connect: MakeConnector) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # the socket is closed again: nothing listens on the port
    status = await connect(api_base_url=f"http://127.0.0.1:{port}").authenticate()
    assert status.state is ConnectionState.UNREACHABLE
    assert f"127.0.0.1:{port}" in status.detail


async def test_a_server_that_is_not_twilio_is_reported(connect: MakeConnector) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        status = await connect(api_base_url=url).authenticate()
    finally:
        await runner.cleanup()
    assert status.state is ConnectionState.MISCONFIGURED
    assert f"{url} did not answer like Twilio" in status.detail


@pytest.mark.parametrize("status", ["PENDING_VERIFICATION", "TWILIO_REVIEW", "OFFLINE", "DRAFT"])
async def test_a_whatsapp_sender_not_yet_online_is_sender_not_verified(
    connect: MakeConnector, twilio_sandbox: TwilioSandbox, status: Any
) -> None:
    twilio_sandbox.default_account.whatsapp_senders[0].status = status
    result = await connect(whatsapp_sender="whatsapp:+15005550006").authenticate()
    assert result.state is ConnectionState.SENDER_NOT_VERIFIED
    [whatsapp] = [s for s in result.senders if s.role == "whatsapp_sender"]
    assert not whatsapp.ok and f"its status is {status}" in whatsapp.detail
