"""docs/writing-a-connector.md's test setup runs as written: an author can copy it unchanged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.core.conftest import EXAMPLE_SRC

DOCS = (Path(__file__).parents[2] / "docs" / "writing-a-connector.md").read_text("utf-8")


def code_block(language: str, containing: str) -> str:
    """The one fenced ``language`` block of the guide that contains ``containing``."""
    blocks = re.findall(rf"```{language}\n(.*?)```", DOCS, flags=re.DOTALL)
    (block,) = [b for b in blocks if containing in b]
    return str(block)


def test_the_conformance_example_passes_with_the_documented_pytest_settings(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(code_block("toml", "asyncio_mode"), "utf-8")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_conformance.py").write_text(
        code_block("python", "# tests/test_conformance.py"), "utf-8"
    )

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(EXAMPLE_SRC), "RELAYKIT_STRICT_PLUGINS": "1"},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout) and "skipped" not in result.stdout


def test_the_example_recipient_number_is_valid() -> None:
    import phonenumbers

    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    numbers = re.findall(r'"number": "(\+\d+)"', readme)
    assert numbers
    for number in numbers:
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
