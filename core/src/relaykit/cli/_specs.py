"""``relaykit specs export``: write the published spec documents (``connector_specs/``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from relaykit.cli._context import EXIT_FAILED, CliContext, fail, stdout
from relaykit.errors import UnknownConnectorError
from relaykit.plugins import PluginHost
from relaykit.spec import META_SCHEMA_RESOURCE, meta_schema

app = typer.Typer(help="Published connector spec documents.", no_args_is_help=True)


def render(document: Mapping[str, Any]) -> str:
    """The canonical text of a published document (what the drift test compares)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def published_documents(plugins: PluginHost, names: list[str] | None) -> dict[str, str]:
    """File name → text for the meta-schema mirror and each named (default: every) connector."""
    files = {META_SCHEMA_RESOURCE: render(meta_schema())}
    for name in names or [entry.name for entry in plugins.connectors]:
        files[f"{name}.json"] = render(plugins.connectors.get(name).spec.document)
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
    """Write the meta-schema mirror and each connector's spec document as JSON files."""
    try:
        files = published_documents(ctx.ensure_object(CliContext).plugins(), connector)
    except UnknownConnectorError as exc:
        fail(str(exc))
        return
    stale = [
        name
        for name, text in files.items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]
    if check:
        for name in stale:
            stdout.print(f"out of date: {directory / name}")
        if stale:
            stdout.print("run: relaykit specs export")
            raise typer.Exit(EXIT_FAILED)
        stdout.print(f"{len(files)} spec file(s) up to date in {directory}")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, "utf-8")
    stdout.print(f"wrote {len(files)} file(s) to {directory} ({len(stale)} changed)")
