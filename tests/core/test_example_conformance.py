"""The example third-party connector passes the same conformance checks as the first-party ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit.contract import CallbackRequest, InstanceConfig
from relaykit.instances import validate_instance_settings
from relaykit.testing import ConnectorConformance
from relaykit_outbox.connector import OutboxConnector
from tests.core.conftest import CANARY_SECRET


class TestOutboxConformance(ConnectorConformance):
    connector_class = OutboxConnector
    plugin_module = "relaykit_outbox.plugin"

    @pytest.fixture
    def instance_config(self, tmp_path: Path) -> InstanceConfig:
        settings = validate_instance_settings(
            self.connector_class.spec(),
            {"directory": str(tmp_path), "signing_secret": CANARY_SECRET},
        )
        return InstanceConfig(tenant="t", name="files", connector="outbox", settings=settings)

    @pytest.fixture
    def forged_callback(self, instance_config: InstanceConfig) -> CallbackRequest:
        return CallbackRequest(
            kind="status",
            url="https://relay.example.org/webhooks/t/files/status",
            method="POST",
            headers={"x-outbox-signature": "0" * 64},
            body=b'{"id": "OB1", "status": "delivered"}',
            content_type="application/json",
        )
