"""The hook manual stays complete: every hookspec documented in code and in docs/hooks.md."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from relaykit import hookspecs

DOCS = (Path(__file__).parents[2] / "docs" / "hooks.md").read_text("utf-8")
HOOKS = [
    function
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, "relaykit_spec")
]


def test_there_are_hooks_to_check() -> None:
    assert {h.__name__ for h in HOOKS} >= {
        "authenticate",
        "send",
        "handle_callback",
        "describe_fields",
        "register_connectors",
    }


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.__name__)
def test_hook_is_documented_in_docs_with_its_signature(hook: object) -> None:
    params = ", ".join(inspect.signature(hook).parameters)  # type: ignore[arg-type]
    assert f"### `{hook.__name__}({params})`" in DOCS  # type: ignore[attr-defined]


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.__name__)
def test_hookspec_docstring_documents_every_parameter(hook: object) -> None:
    doc = inspect.getdoc(hook) or ""
    assert len(doc.splitlines()) > 3, "the docstring is the plugin author's manual"
    for param in inspect.signature(hook).parameters:  # type: ignore[arg-type]
        assert f":param {param}:" in doc
