"""``--profile``: where relaykit's time goes, for the lead's to-do list."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable


def profile(run: Callable[[], object], count: int, top: int = 25) -> None:
    """Run ``run`` under cProfile; print relaykit's own functions, then the hottest leaves.

    Times are per message and include the profiler's overhead (roughly 2x).
    """
    profiler = cProfile.Profile()
    profiler.runcall(run)
    report(pstats.Stats(profiler), count, top)


def report(stats: pstats.Stats, count: int, top: int = 25) -> None:
    """Print ``stats`` (e.g. loaded from a ``python -m cProfile -o`` file) per message."""
    rows = []
    for (path, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((cumulative, own, calls, f"{path.rsplit('/src/', 1)[-1]}:{line}({name})", path))
    print(f"\nprofile of relaykit, {count} messages (us per message, cProfile overhead included)")
    print(f"{'cumulative':>11} {'own':>8} {'calls/msg':>9}  function")
    ours = [r for r in rows if "/relaykit/" in r[4] or "/relaykit_twilio/" in r[4]]
    for row in sorted(ours, reverse=True)[:top]:
        _print_row(row, count)
    print("\nhottest functions by own time")
    for row in sorted(rows, key=lambda r: r[1], reverse=True)[:15]:
        _print_row(row, count)


def _print_row(row: tuple[float, float, int, str, str], count: int) -> None:
    cumulative, own, calls, where, _ = row
    per = 1e6 / count
    print(f"{cumulative * per:>11.0f} {own * per:>8.0f} {calls / count:>9.1f}  {where}")
