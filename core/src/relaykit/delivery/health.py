"""Which connector instances are known not to be connected, so new messages skip them."""

from __future__ import annotations

import threading

__all__ = ["InstanceHealth"]


class InstanceHealth:
    """Instances marked down (credentials rejected) until a check sees them accepted again."""

    def __init__(self) -> None:
        self._down: dict[str, str] = {}
        self._lock = threading.Lock()

    def mark_down(self, label: str, reason: str) -> None:
        with self._lock:
            self._down[label] = reason

    def mark_up(self, label: str) -> None:
        with self._lock:
            self._down.pop(label, None)

    def is_down(self, label: str) -> bool:
        return label in self._down

    def reason(self, label: str) -> str:
        return self._down.get(label, "")

    def down(self) -> dict[str, str]:
        return dict(self._down)
