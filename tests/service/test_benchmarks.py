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
    for contender in ("relaykit", "SDK create_async", "raw aiohttp", "SDK sync loop"):
        assert f"\n{contender} " in out
    assert ratio in out


def test_callbacks_benchmark_compares_relaykit_with_a_bare_verifier() -> None:
    out = _run("callbacks.py", "--messages", "10", "--rounds", "1")
    assert "relaykit serve / bare verify" in out


def test_memory_benchmark_streams_the_file_and_reports_the_peak() -> None:
    out = _run("memory.py", "-n", "40")
    assert "relaykit dispatched 40 recipients" in out
    assert "peak RSS" in out
