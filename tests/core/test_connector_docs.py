"""docs/writing-a-connector.md's test setup runs as written: an author can copy it unchanged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


DOCS_DIR = Path(__file__).parents[2] / "docs"
SNIPPET_DOCS = ("writing-a-connector.md", "hooks.md")
#: the marker a doc puts on the line before an excerpt that cannot run on its own
FRAGMENT = "<!-- fragment -->"


def python_snippets(*, fragments: bool) -> list[pytest.ParameterSet]:
    """Every fenced python block of the snippet docs (or only the marked fragments)."""
    snippets = []
    for doc in SNIPPET_DOCS:
        text = (DOCS_DIR / doc).read_text("utf-8")
        for match in re.finditer(r"^(<!-- fragment -->\n)?```python\n(.*?)^```", text, re.M | re.S):
            if bool(match.group(1)) == fragments:
                line = text.count("\n", 0, match.start()) + 1
                snippets.append(pytest.param(match.group(2), id=f"{doc}:{line}"))
    return snippets


def test_the_guides_have_python_snippets_to_run() -> None:
    assert len(python_snippets(fragments=False)) >= 7
    assert len(python_snippets(fragments=True)) <= 1, "mark only true excerpts as fragments"


@pytest.mark.parametrize("snippet", python_snippets(fragments=False))
def test_each_python_snippet_runs_as_written(tmp_path: Path, snippet: str) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(snippet, "utf-8")

    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(EXAMPLE_SRC)},
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("snippet", python_snippets(fragments=True))
def test_each_fragment_is_valid_python_in_a_method_body(snippet: str) -> None:
    body = textwrap.indent(snippet, "    ")
    compile(f"async def method(self):\n{body}", "<fragment>", "exec")
