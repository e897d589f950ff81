"""Per-sender token buckets: a burst of sends is paced at the configured rate, per sender."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from relaykit import PluginHost
from relaykit.delivery import Relay
from relaykit.store import Store
from tests.core.conftest import CANARY_SECRET

DATA = {"code": "123456", "expires_minutes": "10", "service_name": "Portal"}


@pytest.fixture
def relay(tmp_path: Path, plugin_host: PluginHost) -> Relay:
    from relaykit_outbox import plugin

    plugin_host.register_plugin(plugin, "outbox")
    (tmp_path / "out").mkdir()
    instance = {
        "connector": "outbox",
        "rate_per_second": 20,
        "settings": {"directory": str(tmp_path / "out"), "signing_secret": CANARY_SECRET},
    }
    built = Relay.from_config(
        None,
        plugins=plugin_host,
        data_dir=tmp_path / "data",
        tenants={
            "t": {
                "instances": {"sms": instance},
                "routes": {"default": {"steps": [{"channel": "sms", "instance": "sms"}]}},
            }
        },
    )
    yield built
    built.close()


def person(n: int) -> dict[str, object]:
    return {"id": f"r{n}", "phones": [{"number": f"+1500555{1000 + n}", "sms_status": "enabled"}]}


def test_sends_from_one_sender_are_paced_at_its_rate(relay: Relay) -> None:
    started = time.perf_counter()
    for n in range(11):
        assert relay.notify("t", "otp", person(n), DATA).channel is not None
    elapsed = time.perf_counter() - started

    assert elapsed >= 0.45  # 10 waits of 1/20 s after the first token


def test_pool_senders_have_their_own_buckets(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'b.db'}")
    waits_a = [store.rate_buckets.reserve("sms:+15005550100", rate=1.0) for _ in range(3)]
    wait_b = store.rate_buckets.reserve("sms:+15005550101", rate=1.0)
    store.close()

    assert waits_a[0] == 0 and 0.9 < waits_a[1] <= 1.0 and 1.9 < waits_a[2] <= 2.0
    assert wait_b == 0


def test_the_bucket_is_shared_through_the_database(database_url: str) -> None:
    first, second = Store.open(database_url), Store.open(database_url)  # two workers
    try:
        assert first.rate_buckets.reserve("k", rate=2.0) == 0
        assert 0.4 < second.rate_buckets.reserve("k", rate=2.0) <= 0.5
    finally:
        first.close()
        second.close()


def test_a_refused_reservation_takes_no_token(database_url: str) -> None:
    """PITFALLS 33: a caller told "longer than max_wait" owes the bucket nothing."""
    store = Store.open(database_url)
    try:
        assert store.rate_buckets.reserve("k", rate=1.0, max_wait=0.5) == 0
        refused = [store.rate_buckets.reserve("k", rate=1.0, max_wait=0.5) for _ in range(100)]
        queued = store.rate_buckets.reserve("k", rate=1.0)
    finally:
        store.close()

    assert all(0.5 < wait <= 1.0 for wait in refused)
    assert 0.5 < queued <= 1.0  # still the second in line, not the 102nd
