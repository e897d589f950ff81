"""docs/reference.md is generated from relaykit.contract and kept in sync (a drift test)."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import relaykit.contract as contract
from relaykit.docs_reference import render_reference

REFERENCE = Path(__file__).parents[2] / "docs" / "reference.md"


def section(text: str, name: str) -> str:
    match = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"no section for {name}"
    return match.group(1)


def test_the_committed_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text("utf-8") == render_reference(), (
        "docs/reference.md is stale; run: uv run python -m relaykit.docs_reference"
    )


def test_every_contract_name_and_dataclass_field_is_in_the_reference() -> None:
    text = render_reference()
    for name in contract.__all__:
        body = section(text, name)
        obj = getattr(contract, name)
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
            for field in dataclasses.fields(obj):
                assert f"| `{field.name}` |" in body, f"{name}.{field.name}"


def test_a_field_shows_its_type_default_and_description() -> None:
    body = section(render_reference(), "InstanceConfig")
    assert re.search(
        r"^\| `callback_base_url` \| `str \\\| None` \| `None` \| the public URL under which",
        body,
        flags=re.M,
    ), body


def test_check_exits_1_on_a_stale_file_and_writing_fixes_it(tmp_path: Path) -> None:
    stale = tmp_path / "reference.md"
    stale.write_text(REFERENCE.read_text("utf-8").replace("InstanceConfig", "Config", 1), "utf-8")

    def module(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "relaykit.docs_reference", str(stale), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    checked = module("--check")
    assert checked.returncode == 1
    assert "out of date" in checked.stdout and "python -m relaykit.docs_reference" in checked.stdout
    assert module().returncode == 0
    assert module("--check").returncode == 0
    assert stale.read_text("utf-8") == render_reference()
