"""Entry point of the email connector: registers it with relaykit (filled in by its issue)."""
