"""``relaykit specs export``: write the published spec documents (``connector_specs/``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from relaykit.cli._context import EXIT_FAILED, CliContext, fail, stdout
from relaykit.cli._shipped_specs import shipped_spec_updates
from relaykit.errors import UnknownConnectorError
from relaykit.plugins import PluginHost
from relaykit.spec import META_SCHEMA_RESOURCE, meta_schema

#: where the project being exported lives: shipped spec.json files are rewritten only below it
_HERE = Path(".")

app = typer.Typer(help="Published connector spec documents.", no_args_is_help=True)


def render(document: Mapping[str, Any]) -> str:
    """The canonical text of a published document (what the drift test compares)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def published_documents(plugins: PluginHost, names: list[str] | None) -> dict[str, str]:
    """File name → text for the meta-schema mirror and each named (default: every) connector.

    A connector's document is the one the host uses: for a connector declaring
    ``settings_model``, its ``settings_schema`` is generated from that model.
    """
    files = {META_SCHEMA_RESOURCE: render(meta_schema())}
    for name in names or [entry.name for entry in plugins.connectors]:
        files[f"{name}.json"] = render(plugins.connectors.get(name).spec.document)
    return files


def exported_files(
    plugins: PluginHost, names: list[str] | None, directory: Path, root: Path
) -> dict[Path, str]:
    """Every file ``specs export`` writes: the published documents in ``directory``, and the
    shipped ``spec.json`` (under ``root``) of each connector declaring ``settings_model``."""
    files = {directory / name: text for name, text in published_documents(plugins, names).items()}
    entries = [plugins.connectors.get(n) for n in names] if names else list(plugins.connectors)
    files.update(shipped_spec_updates(entries, root))
    return files


@app.command("export")
def export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Option("--dir", help="Where to write.")] = Path(
        "connector_specs"
    ),
    connector: Annotated[
        list[str] | None, typer.Option("--connector", help="Only these connectors (repeatable).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if any file differs.")
    ] = False,
) -> None:
    """Write the meta-schema mirror and each connector's spec document as JSON files.

    For a connector declaring ``settings_model`` whose package lies in the current
    directory (a source checkout), the ``settings_schema`` of its shipped spec.json
    is regenerated from the model too.
    """
    try:
        files = exported_files(ctx.ensure_object(CliContext).plugins(), connector, directory, _HERE)
    except UnknownConnectorError as exc:
        fail(str(exc))
        return
    stale = [
        path
        for path, text in files.items()
        if not path.is_file() or path.read_text("utf-8") != text
    ]
    if check:
        for path in stale:
            stdout.print(f"out of date: {_shown(path)}")
        if stale:
            stdout.print("run: relaykit specs export")
            raise typer.Exit(EXIT_FAILED)
        stdout.print(f"{len(files)} spec file(s) up to date in {directory}")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for path in stale:
        path.write_text(files[path], "utf-8")
    stdout.print(f"wrote {len(files)} file(s) to {directory} ({len(stale)} changed)")
    for path in stale:
        if path.parent != directory:
            stdout.print(f"regenerated settings_schema in {_shown(path)}")


def _shown(path: Path) -> Path:
    """``path`` relative to the current directory where it lies below it."""
    try:
        return path.resolve().relative_to(_HERE.resolve())
    except ValueError:
        return path
