"""Entry point of the outbox connector: it only registers (imports nothing heavy)."""

from relaykit.contract import hookimpl
from relaykit_outbox.connector import OutboxConnector


@hookimpl
def register_connectors(register):  # type: ignore[no-untyped-def]
    register(OutboxConnector)
