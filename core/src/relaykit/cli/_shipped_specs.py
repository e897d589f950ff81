"""The ``spec.json`` a connector ships, with its ``settings_schema`` regenerated from the model.

Only the ``settings_schema`` value is rewritten; the rest of the file keeps its
text byte for byte, so hand-written parts (and their formatting) stay as their
authors wrote them. Only files inside ``root`` (the project being exported,
normally the current directory) are touched: a connector installed in
site-packages is never rewritten.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from relaykit.connector_settings import settings_model_of
from relaykit.connectors import RegisteredConnector

__all__ = ["shipped_spec_path", "shipped_spec_updates", "with_settings_schema_text"]

_KEY = '"settings_schema"'


def shipped_spec_path(entry: RegisteredConnector, root: Path) -> Path | None:
    """The ``spec.json`` beside the connector's module if it lies under ``root``, else ``None``."""
    module = sys.modules.get(entry.connector_class.__module__)
    package = getattr(module, "__package__", None)
    if not package:
        return None
    try:
        candidate = Path(str(resources.files(package).joinpath("spec.json")))
    except (ModuleNotFoundError, TypeError):
        return None
    if not candidate.is_file() or not candidate.resolve().is_relative_to(root.resolve()):
        return None
    return candidate


def shipped_spec_updates(entries: list[RegisteredConnector], root: Path) -> dict[Path, str]:
    """Path → regenerated text of each shipped spec of a connector declaring ``settings_model``."""
    updates: dict[Path, str] = {}
    for entry in entries:
        if settings_model_of(entry.connector_class) is None:
            continue
        path = shipped_spec_path(entry, root)
        if path is None:
            continue
        text = path.read_text("utf-8")
        if json.loads(text).get("id") != entry.name:
            continue
        updates[path] = with_settings_schema_text(text, entry.spec.settings_schema)
    return updates


def with_settings_schema_text(text: str, schema: Mapping[str, Any]) -> str:
    """``text`` (a spec document) with the top-level ``settings_schema`` value replaced.

    :raises ValueError: the document has no top-level ``settings_schema``.
    """
    current = json.loads(text).get("settings_schema")
    decoder = json.JSONDecoder()
    start = text.find(_KEY)
    while start != -1:
        value_start = text.index(":", start + len(_KEY)) + 1
        while text[value_start].isspace():
            value_start += 1
        try:
            value, end = decoder.raw_decode(text, value_start)
        except json.JSONDecodeError:
            value, end = None, value_start
        if value == current and isinstance(value, dict):
            line_start = text.rfind("\n", 0, start) + 1
            indent = text[line_start:start] if text[line_start:start].isspace() else ""
            rendered = json.dumps(schema, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)
            return text[:value_start] + rendered + text[end:]
        start = text.find(_KEY, start + len(_KEY))
    raise ValueError("the spec document has no top-level settings_schema")
