"""Smoke runs of ``benchmarks/`` at tiny N, so CI notices when one breaks (figures: run by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=BENCHMARKS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("args", "ratio"),
    [
        (["-n", "30", "--sync-n", "5", "--rounds", "1"], "relaykit / SDK create_async"),
        (
            [
                "--latency-ms",
                "20",
                "-n",
                "16",
                "--sync-n",
                "2",
                "--rounds",
                "1",
                "--concurrency",
                "8",
            ],
            "relaykit / ideal",
        ),
    ],
    ids=["cpu-regime", "latency-regime"],
)
def test_dispatch_benchmark_runs_every_contender(args: list[str], ratio: str) -> None:
    out = _run("dispatch.py", *args)
    for contender in (
        "relaykit",
        "SDK create_async",
        "raw aiohttp",
        "SDK sync loop",
        "Apprise per message",
        "Apprise N targets",
    ):
        assert f"\n{contender} " in out
    assert ratio in out
    assert "relaykit / Apprise (faster)" in out
    assert "relaykit framework CPU per message" in out


def test_dispatch_benchmark_runs_the_150_ms_mode_at_each_concurrency() -> None:
    out = _run(
        "dispatch.py", "--latency-ms", "20", "-n", "16", "--sync-n", "2", "--rounds", "1",
        "--concurrency", "4", "8",
    )  # fmt: skip
    assert "at concurrency 4 (target >= 0.9x" in out
    assert "at concurrency 8 (target >= 0.9x" in out


def test_apprise_counts_as_sent_only_what_the_endpoint_took(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apprise.plugins.twilio import NotifyTwilio

    for name in ("notify_sms_url", "request_rate_per_sec"):
        monkeypatch.setattr(NotifyTwilio, name, getattr(NotifyTwilio, name))
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from _measure import ServerProcess
    from _senders import apprise_n_targets, apprise_per_message, endpoint_stats

    with ServerProcess("_endpoint.py") as server:
        assert apprise_per_message(server.url, 3) == 3
        assert apprise_n_targets(server.url, 2) == 2
        assert NotifyTwilio.request_rate_per_sec == 0
        assert endpoint_stats(server.url) == {"created": 5, "refused": 0}
        assert apprise_per_message(f"{server.url}/elsewhere", 2) == 0  # answered 404: not sent
        assert endpoint_stats(server.url) == {"created": 5, "refused": 0}


def test_callbacks_benchmark_compares_relaykit_with_a_bare_verifier() -> None:
    out = _run("callbacks.py", "--messages", "10", "--rounds", "1")
    assert "relaykit serve / bare verify" in out


def test_memory_benchmark_streams_the_file_and_reports_the_peak() -> None:
    out = _run("memory.py", "-n", "40")
    assert "relaykit dispatched 40 recipients" in out
    assert "peak RSS" in out


def test_broadcast_benchmark_runs_the_command_and_the_sdk_at_both_latencies() -> None:
    out = _run("broadcast.py", "-n", "40", "--latency-ms", "0", "20", "--rerun")
    assert out.count("relaykit broadcast / SDK create_async") == 2
    assert out.count("peak RSS of the broadcast process") == 2
    assert out.count("every recipient exactly once          40 answered 201 to 40 distinct") == 2
    assert out.count("re-run of the same command on the same store: sent nothing again") == 2
