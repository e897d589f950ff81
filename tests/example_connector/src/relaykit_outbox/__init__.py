"""relaykit-outbox: an example connector that writes messages to a JSON-lines file."""
