"""The conformance kit's spec-derived checks catch what a spec implies, and run without
``asyncio_mode = "auto"`` (pytest-asyncio's default strict mode)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.core.conftest import EXAMPLE_SRC

SUITE = """
import json

import pytest

from relaykit.contract import (
    CallbackOutcome, CallbackRequest, ConnectorSpec, InstanceConfig, TransientSendError,
)
from relaykit.instances import validate_instance_settings
from relaykit.testing import ConnectorConformance
from relaykit_outbox.connector import OutboxConnector

CANARY = "canary-Secret-0123456789-xyz"


class Base(ConnectorConformance):
    plugin_module = "relaykit_outbox.plugin"

    @pytest.fixture
    def instance_config(self, tmp_path):
        settings = validate_instance_settings(
            self.connector_class.spec(), {"directory": str(tmp_path), "signing_secret": CANARY}
        )
        return InstanceConfig(tenant="t", name="files", connector="outbox", settings=settings)

    @pytest.fixture
    def forged_callback(self, instance_config):
        return CallbackRequest(kind="status", url="https://relay.example.org/webhooks/t/files/status",
                               method="POST", headers={"x-outbox-signature": "0" * 64},
                               body=b'{"id": "OB1", "status": "delivered"}')


def spec_with(change):
    document = json.loads(json.dumps(OutboxConnector.spec().document))
    change(document)
    return ConnectorSpec.from_document(document)


class TestGood(Base):
    connector_class = OutboxConnector


class LeaksInSendErrors(OutboxConnector):
    async def send(self, message):
        secret = self.config.settings["signing_secret"].get_secret_value()
        raise TransientSendError(f"cannot sign with {secret}", connector=self.name)


class TestLeaksInSendErrors(Base):
    connector_class = LeaksInSendErrors


class AcceptsUnsigned(OutboxConnector):
    async def handle_callback(self, request):
        if "x-outbox-signature" not in request.headers:
            return CallbackOutcome(events=())
        return await super().handle_callback(request)


class TestAcceptsUnsigned(Base):
    connector_class = AcceptsUnsigned


class SendsOnAnyChannel(OutboxConnector):
    async def send(self, message):
        return await super().send(type(message)(channel="sms", to=message.to, body=message.body))


class TestSendsOnAnyChannel(Base):
    connector_class = SendsOnAnyChannel


def _repeated_field(document):
    document["data_fields"].append(dict(document["data_fields"][0]))


class BadSpec(OutboxConnector):
    @classmethod
    def spec(cls):
        return spec_with(_repeated_field)


class TestBadSpec(Base):
    connector_class = BadSpec
"""


def run_suite(tmp_path: Path) -> tuple[str, set[str], set[str]]:
    (tmp_path / "test_kit.py").write_text(textwrap.dedent(SUITE), "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(EXAMPLE_SRC), "RELAYKIT_STRICT_PLUGINS": "1"},
    )
    # the broken variants are not what the example's plugin module registers: that check fails
    # for each of them by design, and says nothing about the spec-derived checks
    found = re.findall(r"^(PASSED|FAILED|SKIPPED|ERROR) test_kit\.py::(\S+)", result.stdout, re.M)
    outcomes = {test: outcome for outcome, test in found}
    passed = {test for test, outcome in outcomes.items() if outcome == "PASSED"}
    failed = {
        test
        for test, outcome in outcomes.items()
        if outcome != "PASSED" and not test.endswith("::test_plugin_registers_the_connector")
    }
    return result.stdout + result.stderr, passed, failed


def test_the_kit_passes_a_good_connector_and_catches_each_broken_one(tmp_path: Path) -> None:
    output, passed, failed = run_suite(tmp_path)

    good = {test for test in passed | failed if test.startswith("TestGood::")}
    assert good and good <= passed, output
    assert "TestGood::test_send_on_an_undeclared_channel_is_refused[whatsapp]" in passed
    assert {test for test in failed if not test.startswith("TestGood::")} == {
        "TestLeaksInSendErrors::test_each_secret_setting_stays_out_of_reprs_errors_and_logs"
        "[signing_secret]",
        # it raises TransientSendError for every message, an undeclared channel's too
        "TestLeaksInSendErrors::test_send_on_an_undeclared_channel_is_refused[whatsapp]",
        "TestAcceptsUnsigned::test_each_callback_kind_refuses_forged_and_unsigned_requests[status]",
        "TestSendsOnAnyChannel::test_send_on_an_undeclared_channel_is_refused[whatsapp]",
        "TestBadSpec::test_data_fields_are_well_formed",
    }, output
    # pytest-asyncio ran in its default strict mode, and every async check still ran
    assert "mode=Mode.STRICT" in output, output
    assert "skipped" not in output and "not an async function" not in output, output
