"""Entry point of the email connector (``relaykit.connectors`` → ``email``).

Registers the connector class and the ``email`` sandbox; imports nothing heavy
(the sandbox's aiosmtpd only when a sandbox is started).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from relaykit.contract import RunningSandbox, SandboxOptions, hookimpl
from relaykit_email.connector import EmailConnector

__all__ = ["register_connectors", "register_sandboxes"]


@hookimpl
def register_connectors(register: Callable[[type[EmailConnector]], None]) -> None:
    register(EmailConnector)


def _email_sandbox(options: SandboxOptions) -> AbstractAsyncContextManager[RunningSandbox]:
    from relaykit_email.sandbox import sandbox_factory

    return sandbox_factory(options)


@hookimpl
def register_sandboxes(
    register: Callable[
        [str, Callable[[SandboxOptions], AbstractAsyncContextManager[RunningSandbox]]], None
    ],
) -> None:
    register("email", _email_sandbox)
