"""The email connector passes relaykit's connector conformance suite, against a real relay."""

from __future__ import annotations

import pytest

from relaykit import CallbackRequest, InstanceConfig
from relaykit.testing import ConnectorConformance
from relaykit_email import EmailConnector
from tests.email.conftest import Relay, make_connector
from tests.email.dsn import delivery_report


class TestEmailConformance(ConnectorConformance):
    connector_class = EmailConnector
    plugin_module = "relaykit_email.plugin"

    @pytest.fixture
    def instance_config(self, relay: Relay) -> InstanceConfig:
        # the relay's password and bounce secret are the canaries; authenticate really logs in
        return make_connector(relay.settings()).config

    @pytest.fixture
    def forged_callback(self, instance_config: InstanceConfig) -> CallbackRequest:
        return CallbackRequest(
            kind="bounce",
            url=str(instance_config.callback_url("bounce")),
            method="POST",
            headers={"x-relaykit-signature": "sha256=" + "0" * 64},
            body=delivery_report(b"Message-ID: <forged@example.com>\r\n\r\nhi\r\n"),
            content_type="message/rfc822",
        )
