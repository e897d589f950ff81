"""Run a command as a child process and measure it: wall time, CPU time, peak RSS.

The peak is the kernel's (``ru_maxrss`` from ``os.wait4``: the child's high-water
mark, and its own children's if it has any); a sampler thread also reads
``VmRSS`` of the child and its descendants from ``/proc`` every
``sample_every`` seconds, for the curve and for progress lines. The child's
output goes to files, not pipes, so a quiet parent never blocks a chatty child.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ChildRun", "run_measured", "tree_rss_bytes"]

_TAIL = 8000  # bytes of the child's stderr kept


@dataclass(frozen=True)
class ChildRun:
    """What one run of a command cost.

    :ivar started: ``time.monotonic()`` just before the spawn (comparable with other
        processes' monotonic clocks on the same machine).
    :ivar samples: ``(seconds since the start, RSS of the process tree in bytes)``.
    :ivar stderr_tail: the last few kB of its standard error; ``stderr_bytes`` all of it.
    """

    command: tuple[str, ...]
    returncode: int
    started: float
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    stdout: str
    stderr_tail: str
    stderr_bytes: int
    samples: tuple[tuple[float, int], ...]

    def failure(self) -> str:
        """A readable account of a failed run (the output's tail)."""
        return (
            f"{' '.join(self.command)} exited {self.returncode}\n"
            f"stdout: {self.stdout[-2000:]}\nstderr (tail): {self.stderr_tail}"
        )


def tree_rss_bytes(pid: int) -> int:
    """``VmRSS`` of ``pid`` and all its descendants; 0 once it is gone."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def run_measured(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    sample_every: float = 0.5,
    on_sample: Callable[[float, int], None] | None = None,
) -> ChildRun:
    """Run ``command`` to its end; the sampler thread calls ``on_sample(elapsed_s, rss_bytes)``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(sample_every):
                elapsed = time.monotonic() - started
                rss = tree_rss_bytes(process.pid)
                samples.append((elapsed, rss))
                if on_sample is not None:
                    on_sample(elapsed, rss)

        sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            done.set()
            sampler.join()
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stderr_bytes = os.fstat(err.fileno()).st_size
        err.seek(max(0, stderr_bytes - _TAIL))  # a log of a million lines stays on disk
        return ChildRun(
            command=tuple(command),
            returncode=process.returncode,
            started=started,
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_bytes=usage.ru_maxrss * 1024,
            stdout=out.read().decode(errors="replace"),
            stderr_tail=err.read().decode(errors="replace"),
            stderr_bytes=stderr_bytes,
            samples=tuple(samples),
        )
