"""``relaykit connectors list|describe``: what is installed and what each connector declares."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from relaykit.cli._context import CliContext, fail, print_json, stdout
from relaykit.errors import UnknownConnectorError
from relaykit.plugins import CONNECTOR_GROUP, PluginHost

app = typer.Typer(help="Installed connectors and their specs.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def connector_rows(plugins: PluginHost) -> list[dict[str, Any]]:
    """One row per registered connector, then one per connector plugin that failed to load."""
    rows: list[dict[str, Any]] = [
        {
            "name": entry.name,
            "title": entry.spec.title,
            "distribution": entry.distribution,
            "version": entry.version,
            "channels": [c.value for c in entry.spec.channels],
            "available": True,
            "reason": "",
        }
        for entry in plugins.connectors
    ]
    rows += [
        {
            "name": status.name,
            "title": "",
            "distribution": status.distribution,
            "version": status.version,
            "channels": [],
            "available": False,
            "reason": status.reason,
        }
        for status in plugins.statuses
        if status.group == CONNECTOR_GROUP and not status.available
    ]
    return rows


@app.command("list")
def list_connectors(ctx: typer.Context, json: JsonFlag = False) -> None:
    """List installed connectors: name, distribution, version, channels, availability."""
    rows = connector_rows(ctx.ensure_object(CliContext).plugins())
    if json:
        print_json(rows)
        return
    table = Table("name", "distribution", "version", "channels", "status", title="Connectors")
    for row in rows:
        status = (
            "available" if row["available"] else f"[red]unavailable[/]: {escape(row['reason'])}"
        )
        table.add_row(
            row["name"], row["distribution"], row["version"], ", ".join(row["channels"]), status
        )
    stdout.print(table)


@app.command("describe")
def describe(ctx: typer.Context, name: str, json: JsonFlag = False) -> None:
    """Show a connector's spec: settings, data fields, prerequisites, limitations."""
    plugins = ctx.ensure_object(CliContext).plugins()
    try:
        entry = plugins.connectors.get(name)
    except UnknownConnectorError as exc:
        fail(str(exc))
        return
    document = entry.spec.document
    if json:
        print_json(document)
        return
    stdout.print(
        f"[bold]{entry.spec.title}[/] ({entry.name} {entry.spec.version}, {entry.distribution})"
    )
    if document.get("description"):
        stdout.print(document["description"])
    channels = (f"{c.kind} (address: {c.address_kind})" for c in entry.spec.declared_channels)
    stdout.print(f"channels: {', '.join(channels)}")
    stdout.print(_settings_table(document))
    fields = Table(
        "host field", "vendor field", "direction", "required", "description", title="Data fields"
    )
    for row in plugins.pm.hook.describe_fields(connector_class=entry.connector_class):
        fields.add_row(
            row.host_field,
            row.vendor_field,
            row.direction.value,
            _yes(row.required),
            row.description,
        )
    stdout.print(fields)
    prerequisites = Table("what", "owner", "details", title="Prerequisites")
    for item in document["prerequisites"]:
        prerequisites.add_row(item["what"], item["owner"], item.get("details", ""))
    stdout.print(prerequisites)
    limitations = Table("severity", "limitation", title="Known limitations")
    for item in document["limitations"]:
        limitations.add_row(item["severity"], item["description"])
    stdout.print(limitations)
    callbacks = Table("kind", "verification", "description", title="Callbacks")
    for item in document["callbacks"]:
        callbacks.add_row(item["kind"], item["verification"], item["description"])
    stdout.print(callbacks)


def _settings_table(document: dict[str, Any] | Any) -> Table:
    schema = document["settings_schema"]
    required = set(schema.get("required", []))
    table = Table(
        "setting", "type", "required", "secret", "default", "description", title="Settings"
    )
    for name, prop in schema["properties"].items():
        table.add_row(
            name,
            str(prop.get("type", "any")),
            _yes(name in required),
            _yes(bool(prop.get("x-secret"))),
            "" if "default" not in prop else repr(prop["default"]),
            prop.get("description", ""),
        )
    return table


def _yes(flag: bool) -> str:
    return "yes" if flag else ""
