"""The sandbox as relaykit's registry knows it: ``factory(options)`` → ``RunningSandbox``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from relaykit.sandboxes import RunningSandbox, SandboxOptions
from relaykit_twilio_sandbox._accounts import DEFAULT_MESSAGING_SERVICE_SID, DEFAULT_SMS_NUMBER
from relaykit_twilio_sandbox._server import TwilioSandbox

__all__ = ["DEMO_CALLBACK_DELAY_S", "describe", "start_sandbox"]

#: Between a message's statuses when a person watches (the demo, the CLI).
DEMO_CALLBACK_DELAY_S = 1.0
#: A recipient with no magic behaviour: messages to it are delivered.
TEST_RECIPIENT = "+15005550010"


def describe(sandbox: TwilioSandbox) -> RunningSandbox:
    """The connector settings and notes that point at a started ``sandbox``."""
    return RunningSandbox(
        name="twilio",
        url=sandbox.url,
        settings={
            "account_sid": sandbox.account_sid,
            "auth_token": sandbox.auth_token,
            "sms_sender": DEFAULT_SMS_NUMBER,
            "whatsapp_sender": f"whatsapp:{DEFAULT_SMS_NUMBER}",
            "test_recipient": TEST_RECIPIENT,
            "api_base_url": sandbox.url,
        },
        notes=(
            f"Twilio sandbox on {sandbox.url} (account {sandbox.account_sid}).",
            f"Senders: {DEFAULT_SMS_NUMBER} (SMS, MMS, WhatsApp), "
            f"Messaging Service {DEFAULT_MESSAGING_SERVICE_SID}.",
            "Magic To numbers: +15005550001 21211, +15005550002 21612, +15005550003 21408, "
            "+15005550004 21610, +15005550009 21614, whatsapp:+15005550016 63016, "
            "+15005550030 undelivered 30003, +15005550031 failed 30008; others are delivered.",
            f"Inspect: GET {sandbox.url}/_sandbox/messages; simulate a reply: "
            f"POST {sandbox.url}/_sandbox/inbound From=… To={DEFAULT_SMS_NUMBER} Body=…",
            "WhatsApp's 24-hour window: POST /_sandbox/options "
            '{"whatsapp_session_window": true}; approved templates: POST /_sandbox/content '
            '{"sid": "HX…", "body": "{{1}} …"} (see docs/whatsapp.md).',
        ),
    )


@asynccontextmanager
async def start_sandbox(
    options: SandboxOptions, *, callback_delay: float = DEMO_CALLBACK_DELAY_S
) -> AsyncIterator[RunningSandbox]:
    """Start a sandbox with the default account on ``options.host``/``options.port``."""
    async with TwilioSandbox(
        host=options.host, port=options.port, callback_delay=callback_delay
    ) as sandbox:
        yield describe(sandbox)
