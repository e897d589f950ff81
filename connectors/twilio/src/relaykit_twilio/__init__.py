"""relaykit connector: twilio."""
