"""Reading JSON arguments: inline text, or ``@path`` for a file (``@-`` for stdin)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from relaykit.cli._context import EXIT_CONFIG, fail


def json_argument(value: str | None, name: str) -> Any:
    """Parse ``value`` as JSON (``@file`` reads the file); exits 2 naming ``name`` on bad JSON."""
    if value is None:
        return None
    if value.startswith("@"):
        source = value[1:]
        try:
            value = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
        except OSError as exc:
            fail(f"{name}: cannot read {source}: {exc.strerror}", code=EXIT_CONFIG)
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        fail(f"{name} is not valid JSON: {exc}", code=EXIT_CONFIG)
