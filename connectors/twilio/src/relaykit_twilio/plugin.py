"""Entry point ``twilio`` of the ``relaykit.connectors`` group: registers the connector.

Cheap to import: neither the twilio SDK nor the sandbox is imported here. The
sandbox is its own distribution, ``relaykit-twilio-sandbox`` (a development
tool, not in this wheel); it is registered here so ``relaykit sandbox twilio``
names it even where it is not installed, and says how to install it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from relaykit.contract import (
    RelaykitError,
    RunningSandbox,
    SandboxFactory,
    SandboxOptions,
    hookimpl,
)
from relaykit_twilio.connector import TwilioConnector

__all__ = ["SANDBOX_DISTRIBUTION", "register_connectors", "register_sandboxes", "twilio_sandbox"]

#: The distribution that ships the local Twilio-compatible server.
SANDBOX_DISTRIBUTION = "relaykit-twilio-sandbox"


@hookimpl
def register_connectors(register: Callable[[type[TwilioConnector]], None]) -> None:
    """Register :class:`TwilioConnector` under the name ``twilio``."""
    register(TwilioConnector)


def twilio_sandbox(options: SandboxOptions) -> AbstractAsyncContextManager[RunningSandbox]:
    """Start the local Twilio-compatible server; the sandbox module is imported only now.

    :raises RelaykitError: ``relaykit-twilio-sandbox`` is not installed (the message says how
        to install it).
    """
    try:
        from relaykit_twilio_sandbox import sandbox_factory
    except ModuleNotFoundError as exc:
        if exc.name != "relaykit_twilio_sandbox":
            raise
        raise RelaykitError(
            f"the Twilio sandbox is not installed: install {SANDBOX_DISTRIBUTION} "
            f"(`uv add --dev {SANDBOX_DISTRIBUTION}`, `pip install {SANDBOX_DISTRIBUTION}` "
            "or `pip install relaykit-twilio[sandbox]`); relaykit-twilio does not ship it"
        ) from None
    return sandbox_factory(options)


@hookimpl
def register_sandboxes(
    register: Callable[[str, SandboxFactory], None],
) -> None:
    """Register the sandbox as ``twilio`` (``relaykit sandbox twilio --port N``)."""
    register("twilio", twilio_sandbox)
