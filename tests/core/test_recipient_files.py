"""Recipients files: JSON lines and CSV, streamed, a bad row reported with its line number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from relaykit.recipient_files import (
    BadRow,
    RecipientFileError,
    RecipientRow,
    parse_csv,
    parse_jsonl,
    read_recipients,
)


def test_jsonl_takes_recipient_objects_and_recipients_with_their_own_data() -> None:
    rows = list(
        parse_jsonl(
            [
                '{"id": "a", "email": "a@example.org"}\n',
                "\n",
                '{"recipient": {"id": "b"}, "data": {"student_name": "Bo"}}\n',
            ]
        )
    )
    assert [(r.line, r.recipient.id, r.data) for r in rows if isinstance(r, RecipientRow)] == [
        (1, "a", {}),
        (3, "b", {"student_name": "Bo"}),
    ]


def test_jsonl_bad_lines_are_reported_in_one_line_each_and_the_rest_goes_on() -> None:
    rows = list(
        parse_jsonl(
            [
                "{not json",
                "[1, 2]",
                '{"email": "x@example.org"}',
                '{"id": "p", "phones": [{"number": "+1500", "sms_status": "maybe"}]}',
                '{"id": "ok"}',
            ]
        )
    )
    bad = [r for r in rows if isinstance(r, BadRow)]
    assert [r.line for r in bad] == [1, 2, 3, 4]
    assert bad[0].reason.startswith("not valid JSON")
    assert bad[1].reason == "expected a JSON object, got list"
    assert bad[2].reason == "id: is required"
    assert bad[3].reason.startswith("phones.0.sms_status: ")
    assert all("\n" not in r.reason for r in bad)
    assert isinstance(rows[-1], RecipientRow) and rows[-1].recipient.id == "ok"


def test_csv_maps_columns_to_recipient_phones_and_template_data() -> None:
    lines = [
        "id,name,email,phone,phone_sms_status,phone2,phone2_type,student_name\n",
        "s1,Jo,jo@example.org,+15005550010,enabled,+15005550011,home,Jamie\n",
        "s2,,,,,,,\n",
    ]
    first, second = parse_csv(lines)
    assert isinstance(first, RecipientRow) and isinstance(second, RecipientRow)
    assert first.recipient.name == "Jo" and first.recipient.email == "jo@example.org"
    assert [(p.number, p.sms_status, p.type) for p in first.recipient.phones] == [
        ("+15005550010", "enabled", "mobile"),
        ("+15005550011", "default", "home"),
    ]
    assert first.data == {"student_name": "Jamie"}
    assert second.recipient.email is None and second.recipient.phones == () and second.data == {}


def test_csv_bad_rows_carry_the_file_line_number() -> None:
    lines = [
        "id,email,phone,sms_status\n",
        "a,a@example.org,+15005550010,enabled\n",
        ",b@example.org,,\n",  # no id
        "c,c@example.org\n",  # too few columns
        "d,,,disabled\n",  # a status without a number
        'e,"multi\n',  # a quoted newline: this record ends on line 7
        'line",,\n',
        "f,f@example.org,+15005550012,sometimes\n",
    ]
    rows = list(parse_csv(lines))
    assert [(r.line, r.reason) for r in rows if isinstance(r, BadRow)] == [
        (3, "id: is required"),
        (4, "has 2 columns, the header has 4"),
        (5, "sms_status is set but the phone number is empty"),
        (8, "phones.0.sms_status: Input should be 'enabled', 'disabled' or 'default'"),
    ]
    assert [r.recipient.id for r in rows if isinstance(r, RecipientRow)] == ["a", "e"]


def test_csv_without_an_id_column_is_refused_naming_the_fix() -> None:
    with pytest.raises(RecipientFileError, match="no id column"):
        list(parse_csv(["email,phone\n", "a@example.org,\n"]))


def test_a_file_is_read_by_its_suffix_a_line_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "people.ndjson"
    path.write_text('{"id": "a"}\n{"id": "b"}\n', "utf-8")
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in ['{"id": "a"}', '{"id": "b"}']:
            consumed.append(line)
            yield line

    streamed = parse_jsonl(lines())
    next(streamed)
    assert consumed == ['{"id": "a"}']  # the second line is not read yet
    assert [r.recipient.id for r in read_recipients(path) if isinstance(r, RecipientRow)] == [
        "a",
        "b",
    ]
    csv_path = tmp_path / "people.CSV"
    csv_path.write_text("\ufeffid,email\nz,z@example.org\n", "utf-8")  # Excel's BOM
    assert [r.recipient.id for r in read_recipients(csv_path) if isinstance(r, RecipientRow)] == [
        "z"
    ]


def test_an_unknown_suffix_or_a_missing_file_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(RecipientFileError, match=r"unknown recipients file type '\.xlsx'.*\.csv"):
        read_recipients(tmp_path / "people.xlsx")
    with pytest.raises(RecipientFileError, match="cannot read"):
        read_recipients(tmp_path / "missing.jsonl")
