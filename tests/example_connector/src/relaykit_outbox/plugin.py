"""Entry point of the outbox connector: it only registers (imports nothing heavy)."""

import relaykit
from relaykit_outbox.connector import OutboxConnector


@relaykit.hookimpl
def register_connectors(register):  # type: ignore[no-untyped-def]
    register(OutboxConnector)
