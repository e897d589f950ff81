"""``max_connections`` bounds the sends one instance has in flight at the API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from relaykit import Channel, InstanceConfig, OutboundMessage
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import IncomingNumber, SandboxAccount, TwilioSandbox

LATENCY_MS = 300


async def test_sends_beyond_max_connections_wait_for_a_free_connection(
    twilio_sandbox: TwilioSandbox,
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
) -> None:
    account = twilio_sandbox.add_account(SandboxAccount(numbers=[IncomingNumber("+15005550006")]))
    connector = make_twilio_connector(
        twilio_config(
            account_sid=account.sid,
            auth_token=account.auth_token,
            api_base_url=twilio_sandbox.url,
            max_connections=2,
        )
    )
    await connector.send(OutboundMessage(Channel.SMS, "+14155552671", "warm"))  # connect once
    twilio_sandbox.faults.update(latency_ms=LATENCY_MS)

    started = time.monotonic()
    receipts = await asyncio.gather(
        *(
            connector.send(OutboundMessage(Channel.SMS, "+14155552671", f"hello {i}"))
            for i in range(4)
        )
    )
    took = time.monotonic() - started

    assert len({r.provider_message_id for r in receipts}) == 4
    # Two at a time: the second pair waits for the first (one round would be ~0.3 s).
    assert took >= 2 * LATENCY_MS / 1000
