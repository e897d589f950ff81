"""A scratch file of recipients as JSON lines, written one at a time (never held in a list)."""

from __future__ import annotations

import json
from pathlib import Path

from _senders import numbers, recipient

__all__ = ["write_recipients"]


def write_recipients(path: Path, count: int) -> None:
    """``count`` students, each with a distinct valid mobile number and an email address."""
    with path.open("w", encoding="utf-8") as out:
        for index, number in zip(range(count), numbers(), strict=False):
            person = recipient(index, number)
            person["email"] = f"parent{index}@example.org"
            out.write(json.dumps(person) + "\n")
