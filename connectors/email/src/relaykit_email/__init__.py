"""relaykit connector: email."""
