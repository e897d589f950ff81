"""Fixtures that build Twilio connector instances (owned by the connector work)."""
