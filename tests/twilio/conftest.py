"""Twilio test fixtures: the sandbox and Prism servers, and connector instances."""

from tests.twilio.connector_fixtures import *  # noqa: F403
from tests.twilio.sandbox_fixtures import *  # noqa: F403
