"""Entry point of the twilio connector: registers it with relaykit (filled in by its issue)."""
