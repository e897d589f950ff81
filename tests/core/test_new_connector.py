"""``relaykit new connector NAME`` writes a distribution that installs, registers and passes
conformance on its first run, from a fresh directory, with no package index (CI's check)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from relaykit.cli._new import ConnectorNames, checkout_core, render_connector

pytestmark = pytest.mark.slow


def relaykit_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relaykit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def in_fresh_env(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """``uv run`` in ``project``: its own new .venv, resolved as a newcomer's would be (from
    the package registry; offline, a fresh machine's uv cache has no index pages to resolve
    from, only the wheels ``uv sync --locked`` fetched)."""
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RELAYKIT_", "VIRTUAL_ENV", "UV_PROJECT", "PYTEST_"))
    }
    return subprocess.run(
        [uv, "run", "--python", sys.executable, *command],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "RELAYKIT_STRICT_PLUGINS": "1"},
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("fresh")
    result = relaykit_cli("new", "connector", "pagerduty_like", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir / "pagerduty_like"


def test_it_writes_a_distribution_pointing_relaykit_at_this_checkout(generated: Path) -> None:
    files = sorted(str(p.relative_to(generated)) for p in generated.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "src/relaykit_pagerduty_like/__init__.py",
        "src/relaykit_pagerduty_like/connector.py",
        "src/relaykit_pagerduty_like/plugin.py",
        "src/relaykit_pagerduty_like/settings.py",
        "src/relaykit_pagerduty_like/spec.json",
        "tests/test_conformance.py",
        "tests/test_send.py",
    ]
    pyproject = (generated / "pyproject.toml").read_text("utf-8")
    assert f'relaykit = {{ path = "{checkout_core()}", editable = true }}' in pyproject
    assert 'pagerduty_like = "relaykit_pagerduty_like.plugin"' in pyproject


def test_its_own_tests_pass_conformance_in_a_fresh_env(generated: Path) -> None:
    result = in_fresh_env(generated, "pytest", "-q", "-rA", "-p", "no:randomly")

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout
    assert "skipped" not in result.stdout and "failed" not in result.stdout
    # the spec-derived checks ran, one per declared item
    assert "test_each_secret_setting_stays_out_of_reprs_errors_and_logs[api_token]" in (
        result.stdout
    )
    # and the sketch's HTTP mapping, against a local stand-in for the provider's API
    assert "PASSED tests/test_send.py::test_429_is_rate_limited_with_retry_after" in result.stdout


def test_the_fresh_env_lists_the_connector_as_available(generated: Path) -> None:
    result = in_fresh_env(generated, "relaykit", "connectors", "list", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = [row for row in json.loads(result.stdout) if row["name"] == "pagerduty_like"]
    assert row["available"] is True, row["reason"]
    assert row["distribution"] == "relaykit-pagerduty-like"
    assert row["channels"] == ["sms"]


def test_its_settings_are_declared_once_and_the_spec_matches_the_model(generated: Path) -> None:
    script = (
        "import json; from importlib import resources; "
        "from relaykit.settings_schema import settings_schema; "
        "from relaykit_pagerduty_like.settings import PagerdutyLikeSettings; "
        "shipped = json.loads(resources.files('relaykit_pagerduty_like')"
        ".joinpath('spec.json').read_text())['settings_schema']; "
        "print(shipped == settings_schema(PagerdutyLikeSettings))"
    )
    result = in_fresh_env(generated, "python", "-c", script)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "True"
    connector = (generated / "src/relaykit_pagerduty_like/connector.py").read_text("utf-8")
    assert "settings_model" in connector and "describe_fields" not in connector


@pytest.mark.parametrize("name", ["PagerDuty", "1pager", "x", "pager-duty", "a" * 32])
def test_a_bad_name_exits_2_naming_the_rule(tmp_path: Path, name: str) -> None:
    result = relaykit_cli("new", "connector", name, cwd=tmp_path)

    assert result.returncode == 2
    assert f"connector name {name!r}" in result.stderr
    assert "lowercase letters, digits and underscores" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "pager").mkdir()
    (tmp_path / "pager" / "keep.txt").write_text("mine", "utf-8")

    result = relaykit_cli("new", "connector", "pager", cwd=tmp_path)

    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert [p.name for p in (tmp_path / "pager").iterdir()] == ["keep.txt"]


def test_a_relaykit_path_that_is_not_relaykit_exits_2(tmp_path: Path) -> None:
    result = relaykit_cli(
        "new", "connector", "pager", "--relaykit-path", str(tmp_path), cwd=tmp_path
    )

    assert result.returncode == 2
    assert "--relaykit-path" in result.stderr and "core directory" in result.stderr
    assert not (tmp_path / "pager").exists()


def test_a_relaykit_path_to_the_checkout_root_finds_core(tmp_path: Path) -> None:
    core = checkout_core()
    assert core is not None
    result = relaykit_cli(
        "new", "connector", "pager", "--relaykit-path", str(core.parent), cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    pyproject = (tmp_path / "pager" / "pyproject.toml").read_text("utf-8")
    assert f'path = "{core}"' in pyproject


def test_without_a_checkout_it_writes_no_path_source_and_says_so() -> None:
    files = render_connector(ConnectorNames("pager", "Pager"), None)

    assert "[tool.uv.sources]" not in files["pyproject.toml"]
    assert 'dependencies = ["relaykit>=0.1"]' in files["pyproject.toml"]
    assert "must be installable from your package index" in files["README.md"]
