"""The core's connector conformance suite, run against the Twilio connector."""

from __future__ import annotations

import socket
from urllib.parse import urlencode

import pytest

from relaykit import CallbackRequest, InstanceConfig
from relaykit.instances import validate_instance_settings
from relaykit.testing import ConnectorConformance
from relaykit_twilio import TwilioConnector

CANARY_TOKEN = "conformance-canary-7d1e0b5a93"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestTwilioConformance(ConnectorConformance):
    connector_class = TwilioConnector
    plugin_module = "relaykit_twilio.plugin"

    @pytest.fixture
    def instance_config(self) -> InstanceConfig:
        settings = validate_instance_settings(
            TwilioConnector.spec(),
            {
                "account_sid": "AC" + "5e" * 16,
                "auth_token": CANARY_TOKEN,
                "sms_sender": "+15005550006",
                "api_base_url": f"http://127.0.0.1:{_closed_port()}",  # nothing listens
            },
        )
        return InstanceConfig(
            tenant="north-high",
            name="sms",
            connector="twilio",
            settings=settings,
            callback_base_url="https://relay.example.org/webhooks/north-high/sms",
        )

    @pytest.fixture
    def forged_callback(self, instance_config: InstanceConfig) -> CallbackRequest:
        body = urlencode({"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"})
        return CallbackRequest(
            kind="status",
            url=f"{instance_config.callback_url('status')}?rk_ref=m1",
            method="POST",
            headers={"x-twilio-signature": "Zm9yZ2VkLXNpZ25hdHVyZS0xMjM0NQ=="},
            body=body.encode(),
        )
