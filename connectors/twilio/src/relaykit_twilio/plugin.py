"""Entry point ``twilio`` of the ``relaykit.connectors`` group: registers the connector.

Cheap to import: neither the twilio SDK nor the sandbox is imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from relaykit.contract import RunningSandbox, SandboxFactory, SandboxOptions, hookimpl
from relaykit_twilio.connector import TwilioConnector

__all__ = ["register_connectors", "register_sandboxes", "twilio_sandbox"]


@hookimpl
def register_connectors(register: Callable[[type[TwilioConnector]], None]) -> None:
    """Register :class:`TwilioConnector` under the name ``twilio``."""
    register(TwilioConnector)


def twilio_sandbox(options: SandboxOptions) -> AbstractAsyncContextManager[RunningSandbox]:
    """Start the local Twilio-compatible server; the sandbox module is imported only now."""
    from relaykit_twilio.sandbox import sandbox_factory

    return sandbox_factory(options)


@hookimpl
def register_sandboxes(
    register: Callable[[str, SandboxFactory], None],
) -> None:
    """Register the sandbox as ``twilio`` (``relaykit sandbox twilio --port N``)."""
    register("twilio", twilio_sandbox)
