"""Recipients files: JSON lines or CSV, parsed one row at a time.

A broadcast's recipients come from a file of any size, so the parsers work
over an iterable of text lines and yield one result per row: a
:class:`RecipientRow` (the validated recipient and its own template data) or a
:class:`BadRow` (the line number and a one-line reason). A bad row never stops
the rest; nothing but the current row is held in memory.

JSON lines: each non-blank line is a recipient object
(``{"id": "stu-1", "email": …, "phones": […]}``), or
``{"recipient": {…}, "data": {…}}`` to give that recipient its own template data.

CSV: a header row names the columns. ``id``, ``kind``, ``name`` and ``email``
are the recipient's; ``phone`` with ``phone_type``, ``phone_sms_status`` (or
``sms_status``) and ``phone_verified_at`` (or ``verified_at``) make one phone
number, and ``phone2``, ``phone2_type``, … a second (and so on); every other
column is template data for that recipient. Empty cells are absent values.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from relaykit.errors import RelaykitError
from relaykit.recipients import Recipient

__all__ = [
    "SUFFIXES",
    "BadRow",
    "RecipientFileError",
    "RecipientRow",
    "parse_csv",
    "parse_jsonl",
    "read_recipients",
    "row_reason",
]

#: The file suffixes :func:`read_recipients` understands, and the parser of each.
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}

_RECIPIENT_COLUMNS = ("id", "kind", "name", "email")
_PHONE = re.compile(r"^(phone\d*)(?:_(type|sms_status|verified_at))?$")


class RecipientFileError(RelaykitError):
    """The recipients file cannot be read at all (unknown format, missing file, no header)."""


@dataclass(frozen=True)
class RecipientRow:
    """One good row: its line number, the recipient, and the recipient's own template data."""

    line: int
    recipient: Recipient
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BadRow:
    """A row that was skipped: its line number and why, in one line."""

    line: int
    reason: str


ParsedRow = RecipientRow | BadRow


def row_reason(exc: ValidationError) -> str:
    """A validation error as one line: the first problem's field and message (and how many more)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "recipient"
    message = first["msg"]
    if first["type"] == "missing":
        message = "is required"
    elif first["type"] == "extra_forbidden":
        message = "is not a recipient field"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"


def parse_jsonl(lines: Iterable[str]) -> Iterator[ParsedRow]:
    """One result per non-blank line of a JSON-lines recipients file (line numbers from 1)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadRow(number, f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        yield _from_object(number, value)


def _from_object(number: int, value: Any) -> ParsedRow:
    if not isinstance(value, dict):
        return BadRow(number, f"expected a JSON object, got {type(value).__name__}")
    data: Any = {}
    if isinstance(value.get("recipient"), dict):
        data = value.get("data") or {}
        if not isinstance(data, dict):
            return BadRow(number, "data: expected a JSON object")
        if set(value) - {"recipient", "data"}:
            extra = ", ".join(sorted(set(value) - {"recipient", "data"}))
            return BadRow(number, f"{extra}: not allowed beside recipient and data")
        value = value["recipient"]
    try:
        recipient = Recipient.model_validate(value)
    except ValidationError as exc:
        return BadRow(number, row_reason(exc))
    return RecipientRow(number, recipient, data)


def parse_csv(lines: Iterable[str]) -> Iterator[ParsedRow]:
    """One result per data row of a CSV recipients file with a header row (see the module)."""
    reader = csv.reader(iter(lines))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    if "id" not in header:
        raise RecipientFileError(
            "the CSV header has no id column: name the columns in the first row "
            "(id, kind, name, email, phone, …; other columns are template data)"
        )
    layout = _csv_layout(header)
    for cells in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield BadRow(number, f"has {len(cells)} columns, the header has {len(header)}")
            continue
        yield _from_cells(number, layout, cells)


@dataclass(frozen=True)
class _Layout:
    """Which CSV column goes where: recipient fields, phone numbers' fields, template data."""

    recipient: tuple[tuple[int, str], ...]
    phones: tuple[tuple[str, tuple[tuple[int, str], ...]], ...]
    data: tuple[tuple[int, str], ...]


def _csv_layout(header: list[str]) -> _Layout:
    recipient: list[tuple[int, str]] = []
    phones: dict[str, list[tuple[int, str]]] = {}
    data: list[tuple[int, str]] = []
    for index, name in enumerate(header):
        if name in _RECIPIENT_COLUMNS:
            recipient.append((index, name))
        elif name in ("sms_status", "verified_at"):  # short forms for the first number
            phones.setdefault("phone", []).append((index, name))
        elif match := _PHONE.match(name):
            phones.setdefault(match.group(1), []).append((index, match.group(2) or "number"))
        else:
            data.append((index, name))
    return _Layout(tuple(recipient), tuple((k, tuple(v)) for k, v in phones.items()), tuple(data))


def _from_cells(number: int, layout: _Layout, cells: list[str]) -> ParsedRow:
    value: dict[str, Any] = {
        name: cells[index].strip() for index, name in layout.recipient if cells[index].strip()
    }
    phones = []
    for _, columns in layout.phones:
        phone = {name: cells[index].strip() for index, name in columns if cells[index].strip()}
        if phone.get("number"):
            phones.append(phone)
        elif phone:
            column = next(n for n in phone)
            return BadRow(number, f"{column} is set but the phone number is empty")
    value["phones"] = phones
    try:
        recipient = Recipient.model_validate(value)
    except ValidationError as exc:
        return BadRow(number, row_reason(exc))
    data = {name: cells[index] for index, name in layout.data if cells[index] != ""}
    return RecipientRow(number, recipient, data)


def read_recipients(path: Path | str) -> Iterator[ParsedRow]:
    """The rows of a recipients file, parsed by its suffix (``.jsonl``, ``.ndjson``, ``.csv``),
    streamed: the file is read a line at a time and closed when the rows are used up.

    :raises RecipientFileError: an unknown suffix, or a file that cannot be opened.
    """
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise RecipientFileError(
            f"{path.name}: unknown recipients file type {path.suffix or '(none)'!r}; "
            "use .jsonl (or .ndjson) for JSON lines, .csv for CSV with a header row"
        )
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise RecipientFileError(f"cannot read {path}: {exc.strerror}") from None
    return _rows(handle, parse_csv if kind == "csv" else parse_jsonl)


def _rows(handle: Any, parse: Any) -> Iterator[ParsedRow]:
    with handle:
        try:
            yield from parse(handle)
        except UnicodeDecodeError as exc:
            raise RecipientFileError(f"the recipients file is not UTF-8 text: {exc}") from None
