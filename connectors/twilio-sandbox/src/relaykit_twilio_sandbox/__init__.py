"""A local Twilio-compatible server for tests, benchmarks and the demo.

Importing this package is cheap (no aiohttp, no twilio SDK): ``sandbox_factory``
and the names below load the server on first use, so the connector's plugin
module may import ``sandbox_factory`` at start-up::

    from relaykit_twilio_sandbox import sandbox_factory

    @relaykit.hookimpl
    def register_sandboxes(register):
        register("twilio", sandbox_factory)

In tests, use the server directly::

    async with TwilioSandbox() as sb:
        ...  # sb.url, sb.account_sid, sb.auth_token, sb.messages, sb.faults

Run it in the foreground with ``python -m relaykit_twilio_sandbox --port 8081``
(or ``relaykit sandbox twilio --port 8081``). The magic phone numbers are
listed in ``relaykit_twilio_sandbox._magic``, the control endpoints in
``relaykit_twilio_sandbox._control``.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relaykit.sandboxes import RunningSandbox, SandboxOptions
    from relaykit_twilio_sandbox._accounts import (
        DEFAULT_ACCOUNT_SID,
        DEFAULT_AUTH_TOKEN,
        DEFAULT_MESSAGING_SERVICE_SID,
        DEFAULT_SMS_NUMBER,
        DEFAULT_VOICE_ONLY_NUMBER,
        IncomingNumber,
        MessagingService,
        SandboxAccount,
        WhatsAppSender,
        default_account,
    )
    from relaykit_twilio_sandbox._content import ContentTemplate, SessionWindows
    from relaykit_twilio_sandbox._errors import TwilioApiError
    from relaykit_twilio_sandbox._faults import Faults
    from relaykit_twilio_sandbox._records import CallbackDelivery, SandboxMessage
    from relaykit_twilio_sandbox._server import TwilioSandbox
    from relaykit_twilio_sandbox._thread import ThreadedSandbox

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_MESSAGING_SERVICE_SID",
    "DEFAULT_SMS_NUMBER",
    "DEFAULT_VOICE_ONLY_NUMBER",
    "CallbackDelivery",
    "ContentTemplate",
    "Faults",
    "IncomingNumber",
    "MessagingService",
    "SandboxAccount",
    "SandboxMessage",
    "SessionWindows",
    "ThreadedSandbox",
    "TwilioApiError",
    "TwilioSandbox",
    "WhatsAppSender",
    "default_account",
    "sandbox_factory",
]

_LAZY = {
    "DEFAULT_ACCOUNT_SID": "_accounts",
    "DEFAULT_AUTH_TOKEN": "_accounts",
    "DEFAULT_MESSAGING_SERVICE_SID": "_accounts",
    "DEFAULT_SMS_NUMBER": "_accounts",
    "DEFAULT_VOICE_ONLY_NUMBER": "_accounts",
    "IncomingNumber": "_accounts",
    "MessagingService": "_accounts",
    "SandboxAccount": "_accounts",
    "WhatsAppSender": "_accounts",
    "default_account": "_accounts",
    "ContentTemplate": "_content",
    "SessionWindows": "_content",
    "TwilioApiError": "_errors",
    "Faults": "_faults",
    "CallbackDelivery": "_records",
    "SandboxMessage": "_records",
    "TwilioSandbox": "_server",
    "ThreadedSandbox": "_thread",
}


def sandbox_factory(options: SandboxOptions) -> AbstractAsyncContextManager[RunningSandbox]:
    """relaykit's sandbox factory: start the default account's sandbox, yield its settings.

    :param options: host and port (``0`` picks a free port) to bind.
    :returns: an async context manager yielding a :class:`relaykit.RunningSandbox`
        whose ``settings`` point a Twilio connector instance at it.
    """
    from relaykit_twilio_sandbox._factory import start_sandbox

    return start_sandbox(options)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
