"""``--py-spy``: a command's CPU by function and by thread, sampled from outside the process.

cProfile sees only the thread it runs in and doubles the cost of every call;
py-spy samples every thread's stack from another process (``--nonblocking``: the
target is never paused) and, by default, only threads that are running, so
samples / rate approximates CPU time. Printed per recipient: each thread's
total, relaykit's functions by inclusive time, and the hottest functions by own
time. py-spy is not a dependency of the project: ``uv tool install py-spy``.
"""

from __future__ import annotations

import collections
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

__all__ = ["available", "record_command", "summarize"]

_LINE = re.compile(r":\d+\)$")
_OURS = ("/relaykit/", "/relaykit_twilio/")


def available() -> str | None:
    """The py-spy executable, or None."""
    return shutil.which("py-spy") or next(
        (str(p) for p in [Path.home() / ".local/bin/py-spy"] if p.exists()), None
    )


def record_command(
    executable: str, command: Sequence[str], out: Path, rate: int, *, gil: bool = False
) -> list[str]:
    """``command`` under ``py-spy record``, its collapsed stacks written to ``out``.

    :param gil: sample only the thread holding the GIL (Python's own CPU; a thread waiting
        for the GIL, or in C code that released it, is not counted).
    """
    return [
        executable, "record", "--rate", str(rate), "--format", "raw", "--output", str(out),
        "--threads", "--full-filenames", "--nonblocking", *(["--gil"] if gil else []),
        "--", *command,
    ]  # fmt: skip


def summarize(out: Path, rate: int, count: int, top: int = 25) -> None:
    """Print the samples in ``out`` as microseconds per recipient."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack:
            continue
        thread, *frames = stack.split(";")
        n = int(samples)
        threads[thread.split(": ", 1)[-1]] += n
        functions = [_LINE.sub(")", frame) for frame in frames]
        if functions:
            own[functions[-1]] += n
        for function in set(functions):
            inclusive[function] += n
    per = 1e6 / rate / count
    print(f"\npy-spy, {count:,} recipients, {rate} samples/s (us of CPU per recipient)")
    for thread, n in threads.most_common():
        print(f"{n * per:>9.0f}  thread {thread}")
    print(f"\n{'inclusive':>9} {'own':>7}  relaykit's functions")
    ours = [f for f, _ in inclusive.most_common() if any(part in f for part in _OURS)]
    for function in ours[:top]:
        print(f"{inclusive[function] * per:>9.0f} {own[function] * per:>7.0f}  {_short(function)}")
    print(f"\n{'own':>9} {'incl.':>7}  hottest functions by own time")
    for function, n in own.most_common(20):
        print(f"{n * per:>9.0f} {inclusive[function] * per:>7.0f}  {_short(function)}")


def _short(function: str) -> str:
    """``name (/long/path/site-packages/pkg/mod.py)`` as ``name (pkg/mod.py)``."""
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in function:
            name, _, path = function.partition(" (")
            return f"{name} ({path.rsplit(marker, 1)[-1]}"
    return function
