"""Middleware wraps exactly one connector call: order, errors, short-circuits, async awareness."""

from __future__ import annotations

import json
import warnings
from collections.abc import Awaitable, Generator
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import (
    Channel,
    ConnectorHost,
    OutboundMessage,
    PermanentSendError,
    PluginHost,
    RateLimitedError,
    SendReceipt,
    around_async,
)
from relaykit.settings import load_settings
from relaykit.testing import captured_logs
from tests.core.conftest import CANARY_SECRET

MESSAGE = OutboundMessage(channel=Channel.SMS, to="+15005550006", body="Your key is ready")


class Recorder:
    """A middleware that records the order it runs in and what it saw."""

    def __init__(self, label: str, calls: list[str]) -> None:
        self.label, self.calls = label, calls

    @relaykit.hookimpl(wrapper=True)
    def send(
        self, connector: Any, message: OutboundMessage
    ) -> Generator[None, Awaitable[SendReceipt], Awaitable[SendReceipt]]:
        return (yield from around_async(self._around))

    async def _around(self, inner: Awaitable[SendReceipt]) -> SendReceipt:
        self.calls.append(f"{self.label}:before")
        try:
            receipt = await inner
        except Exception as exc:
            self.calls.append(f"{self.label}:error:{type(exc).__name__}")
            raise
        self.calls.append(f"{self.label}:after:{receipt.status}")
        return receipt


class Limiter:
    """Refuses every send before the connector is reached."""

    @relaykit.hookimpl(wrapper=True, tryfirst=True)
    def send(
        self, connector: Any, message: OutboundMessage
    ) -> Generator[None, Awaitable[SendReceipt], Awaitable[SendReceipt]]:
        return (yield from around_async(self._refuse))

    async def _refuse(self, inner: Awaitable[SendReceipt]) -> SendReceipt:
        raise RateLimitedError("sender bucket empty", connector="outbox", retry_after=1.5)


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin_host: PluginHost) -> ConnectorHost:
    from relaykit_outbox import plugin

    plugin_host.register_plugin(plugin, "outbox")
    (tmp_path / "out").mkdir()
    settings = load_settings(
        tenants={
            "north-high": {
                "instances": {
                    "sms": {
                        "connector": "outbox",
                        "settings": {
                            "directory": str(tmp_path / "out"),
                            "signing_secret": CANARY_SECRET,
                        },
                    }
                }
            }
        }
    )
    return ConnectorHost(settings, plugin_host)


async def test_wrappers_run_around_the_one_connector_in_registration_order(
    host: ConnectorHost, tmp_path: Path
) -> None:
    calls: list[str] = []
    host.plugins.register_plugin(Recorder("outer", calls), "outer", group=relaykit.MIDDLEWARE_GROUP)
    host.plugins.register_plugin(Recorder("inner", calls), "inner", group=relaykit.MIDDLEWARE_GROUP)

    receipt = await host.send("sms", MESSAGE)

    # pluggy calls the last registered first: "inner" wraps outermost here.
    assert calls == ["inner:before", "outer:before", "outer:after:sent", "inner:after:sent"]
    written = [
        json.loads(line) for line in (tmp_path / "out" / "outbox.jsonl").read_text().splitlines()
    ]
    assert [w["id"] for w in written] == [receipt.provider_message_id]


async def test_async_connector_error_reaches_the_wrapper_and_the_caller(
    host: ConnectorHost,
) -> None:
    calls: list[str] = []
    host.plugins.register_plugin(Recorder("mw", calls), "mw", group=relaykit.MIDDLEWARE_GROUP)

    with pytest.raises(PermanentSendError, match="no recipient"):
        await host.send("sms", OutboundMessage(channel=Channel.SMS, to="", body="x"))

    assert calls == ["mw:before", "mw:error:PermanentSendError"]


async def test_rate_limiter_short_circuits_without_calling_the_connector(
    host: ConnectorHost, tmp_path: Path
) -> None:
    host.plugins.register_plugin(Limiter(), "limiter", group=relaykit.MIDDLEWARE_GROUP)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unawaited inner coroutine would warn
        with pytest.raises(RateLimitedError) as raised:
            await host.send("sms", MESSAGE)

    assert raised.value.retry_after == 1.5
    assert not (tmp_path / "out" / "outbox.jsonl").exists()


async def test_every_connector_call_is_logged_with_tenant_instance_outcome_and_duration(
    host: ConnectorHost,
) -> None:
    with captured_logs("debug") as logs:
        await host.send("sms", MESSAGE)
        await host.authenticate("north-high/sms")

    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    calls = [e for e in events if e.get("event") == "connector_call"]
    assert [(c["call"], c["outcome"]) for c in calls] == [
        ("send", "sent"),
        ("authenticate", "connected"),
    ]
    for call in calls:
        assert (call["tenant"], call["instance"], call["connector"]) == (
            "north-high",
            "sms",
            "outbox",
        )
        assert call["duration_ms"] >= 0


async def test_at_info_a_failed_send_is_logged_and_a_successful_one_is_not(
    host: ConnectorHost,
) -> None:
    with captured_logs("info") as logs:
        await host.send("sms", MESSAGE)
        with pytest.raises(PermanentSendError):
            await host.send("sms", OutboundMessage(channel=Channel.SMS, to="", body="x"))

    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    calls = [e for e in events if e.get("event") == "connector_call"]
    assert [(c["call"], c["level"], c["outcome"]) for c in calls] == [
        ("send", "warning", "PermanentSendError")
    ]


class Tagger(relaykit.Middleware):
    """A plain-callable middleware that records the order it runs in."""

    def __init__(self, label: str, calls: list[str]) -> None:
        self.label, self.calls = label, calls

    async def send(
        self, call_next: relaykit.middleware.SendCall, connector: Any, message: OutboundMessage
    ) -> SendReceipt:
        self.calls.append(f"{self.label}:before")
        receipt = await call_next(connector, message)
        self.calls.append(f"{self.label}:after")
        return receipt


class Refuser(relaykit.Middleware):
    """Refuses every send before the connector is reached, without pluggy."""

    async def send(
        self, call_next: relaykit.middleware.SendCall, connector: Any, message: OutboundMessage
    ) -> SendReceipt:
        raise RateLimitedError("sender bucket empty", connector="outbox", retry_after=2.0)


def _outbox_lines(tmp_path: Path) -> list[dict[str, Any]]:
    outbox = tmp_path / "out" / "outbox.jsonl"
    if not outbox.exists():
        return []
    return [json.loads(line) for line in outbox.read_text().splitlines()]


async def test_a_pluggy_wrapper_runs_around_the_send_and_the_call_log_runs_once(
    host: ConnectorHost, tmp_path: Path
) -> None:
    calls: list[str] = []
    host.plugins.register_plugin(Recorder("third", calls), "third", group=relaykit.MIDDLEWARE_GROUP)

    with captured_logs("debug") as logs:
        receipt = await host.send("sms", MESSAGE)

    assert calls == ["third:before", "third:after:sent"]
    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [e["call"] for e in events if e.get("event") == "connector_call"] == ["send"]
    assert [w["id"] for w in _outbox_lines(tmp_path)] == [receipt.provider_message_id]


async def test_middleware_objects_run_outermost_first_and_follow_the_plugin_set(
    host: ConnectorHost, tmp_path: Path
) -> None:
    calls: list[str] = []
    host.plugins.register_plugin(Tagger("first", calls), "first", group=relaykit.MIDDLEWARE_GROUP)
    host.plugins.register_plugin(Tagger("second", calls), "second", group=relaykit.MIDDLEWARE_GROUP)

    await host.send("sms", MESSAGE)
    assert calls == ["first:before", "second:before", "second:after", "first:after"]

    calls.clear()
    host.plugins.unregister_plugin("first")
    await host.send("sms", MESSAGE)
    assert calls == ["second:before", "second:after"]
    assert len(_outbox_lines(tmp_path)) == 2


async def test_a_middleware_object_short_circuits_without_calling_the_connector(
    host: ConnectorHost, tmp_path: Path
) -> None:
    host.plugins.register_plugin(Refuser(), "refuser", group=relaykit.MIDDLEWARE_GROUP)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unawaited connector coroutine would warn
        with pytest.raises(RateLimitedError) as raised:
            await host.send("sms", MESSAGE)

    assert raised.value.retry_after == 2.0
    assert _outbox_lines(tmp_path) == []


async def test_with_tracing_on_a_send_is_traced_as_a_hook_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from relaykit_outbox import plugin

    monkeypatch.setenv("RELAYKIT_TRACE_PLUGINS", "1")
    plugins = relaykit.build_plugin_host(load_entry_points=False, strict=True)
    plugins.register_plugin(plugin, "outbox")
    (tmp_path / "out").mkdir()
    settings = load_settings(
        tenants={
            "north-high": {
                "instances": {
                    "sms": {
                        "connector": "outbox",
                        "settings": {
                            "directory": str(tmp_path / "out"),
                            "signing_secret": CANARY_SECRET,
                        },
                    }
                }
            }
        }
    )
    with captured_logs("debug") as logs:
        await ConnectorHost(settings, plugins).send("sms", MESSAGE)

    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [e["hook"] for e in events if e["event"] == "hook_call"] == ["send"]
    assert len(_outbox_lines(tmp_path)) == 1
