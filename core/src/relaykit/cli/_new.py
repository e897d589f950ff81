"""``relaykit new connector NAME``: write a connector distribution that passes conformance as is.

The files come from the templates in ``_new_connector/`` (``string.Template``,
``$placeholders``). The distribution depends on ``relaykit>=0.1``; where
relaykit runs from a source checkout (or ``--relaykit-path`` names one), a
``[tool.uv.sources]`` path entry points that dependency at the checkout, so
``uv run pytest`` resolves it in a fresh directory with no package index.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated

import typer

import relaykit
from relaykit.cli._context import EXIT_CONFIG, fail, stdout
from relaykit.connectors import CONTRACT_VERSION

app = typer.Typer(help="Start a new project from a template.", no_args_is_help=True)

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,30}$")

#: output path (``{package}`` replaced) -> template file in ``_new_connector/``
CONNECTOR_FILES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    ".gitignore": "gitignore.tmpl",
    "src/{package}/__init__.py": "__init__.py.tmpl",
    "src/{package}/plugin.py": "plugin.py.tmpl",
    "src/{package}/connector.py": "connector.py.tmpl",
    "src/{package}/settings.py": "settings.py.tmpl",
    "src/{package}/spec.json": "spec.json.tmpl",
    "tests/test_conformance.py": "test_conformance.py.tmpl",
    "tests/test_send.py": "test_send.py.tmpl",
}


@dataclass(frozen=True)
class ConnectorNames:
    """The names one connector goes by: connector/entry point, distribution, package, class."""

    name: str
    title: str

    @property
    def dist(self) -> str:
        return "relaykit-" + self.name.replace("_", "-")

    @property
    def package(self) -> str:
        return f"relaykit_{self.name}"

    @property
    def class_name(self) -> str:
        return self._camel + "Connector"

    @property
    def settings_class(self) -> str:
        return self._camel + "Settings"

    @property
    def _camel(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))


def checkout_core() -> Path | None:
    """relaykit's core project directory when relaykit runs from a source checkout."""
    candidate = Path(relaykit.__file__).resolve().parents[2]
    return candidate if is_relaykit_project(candidate) else None


def is_relaykit_project(directory: Path) -> bool:
    """True if ``directory`` holds the ``pyproject.toml`` of the ``relaykit`` distribution."""
    try:
        project = tomllib.loads((directory / "pyproject.toml").read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return bool(project.get("project", {}).get("name") == "relaykit")


def resolve_relaykit_path(given: Path) -> Path:
    """``given`` (relaykit's core project, or a checkout holding it in ``core/``), resolved.

    :raises ValueError: naming the option and the fix.
    """
    for directory in (given, given / "core"):
        if is_relaykit_project(directory):
            return directory.resolve()
    raise ValueError(
        f"--relaykit-path: {given} holds no pyproject.toml of the relaykit distribution; "
        "give relaykit's core directory (core/ in a checkout)"
    )


def render_connector(names: ConnectorNames, relaykit_path: Path | None) -> dict[str, str]:
    """Relative path -> text of every file of the new distribution."""
    if relaykit_path is None:
        sources = ""
        source_note = (
            "\nThe dependency `relaykit>=0.1` must be installable from your package index;"
            " if it is not, point it at a checkout: add\n"
            '`[tool.uv.sources] relaykit = { path = "/path/to/relaykit/core", editable = true }`'
            " to `pyproject.toml`.\n"
        )
    else:
        sources = (
            "\n# relaykit from a local checkout, so a fresh directory resolves it without an index;"
            "\n# remove this table once relaykit>=0.1 is installable from your package index\n"
            f'[tool.uv.sources]\nrelaykit = {{ path = "{relaykit_path.as_posix()}", '
            "editable = true }\n"
        )
        source_note = (
            f"\n`relaykit` comes from the checkout at `{relaykit_path}` (`[tool.uv.sources]` in"
            " `pyproject.toml`): `relaykit>=0.1` alone resolves only where relaykit is already"
            " installed or on your package index.\n"
        )
    values = {
        "name": names.name,
        "title": names.title,
        "dist": names.dist,
        "package": names.package,
        "class_name": names.class_name,
        "settings_class": names.settings_class,
        "contract_version": CONTRACT_VERSION,
        "sources": sources,
        "source_note": source_note,
    }
    templates = resources.files("relaykit.cli").joinpath("_new_connector")
    return {
        path.format(package=names.package): Template(
            templates.joinpath(template).read_text("utf-8")
        ).substitute(values)
        for path, template in CONNECTOR_FILES.items()
    }


@app.command("connector")
def new_connector(
    name: Annotated[
        str, typer.Argument(help="Connector name: entry point and spec id (pagerduty_like).")
    ],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the NAME/ directory.")
    ] = Path("."),
    title: Annotated[
        str | None, typer.Option("--title", help="The provider's name, as people write it.")
    ] = None,
    relaykit_path: Annotated[
        Path | None,
        typer.Option(
            "--relaykit-path",
            help="relaykit's core project to depend on by path (default: this relaykit's "
            "checkout, if it runs from one).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write NAME/: a connector distribution that installs, registers and passes conformance."""
    if not NAME_PATTERN.fullmatch(name):
        fail(
            f"connector name {name!r}: use 2-31 lowercase letters, digits and underscores,"
            " starting with a letter (e.g. pagerduty_like)",
            code=EXIT_CONFIG,
        )
    target = directory / name
    if target.exists():
        fail(f"{target} already exists; choose another name or --dir", code=EXIT_CONFIG)
    try:
        core = resolve_relaykit_path(relaykit_path) if relaykit_path else checkout_core()
    except ValueError as exc:
        fail(str(exc), code=EXIT_CONFIG)
        return
    names = ConnectorNames(name, title or name.replace("_", " ").title())
    files = render_connector(names, core)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    stdout.print(f"wrote {target}/ ({len(files)} files), distribution {names.dist}")
    stdout.print(f"next: cd {target} && uv run pytest")
