"""Fixtures that start the Twilio sandbox and Stoplight Prism (owned by the sandbox work)."""
