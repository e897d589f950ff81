"""``relaykit templates list|show|preview|set|reset``: the message texts, per tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from relaykit.cli._context import EXIT_CONFIG, CliContext, fail, print_json, stdout
from relaykit.cli._inputs import json_argument
from relaykit.errors import RelaykitError

app = typer.Typer(
    help="Event templates: shipped defaults and tenant overrides.", no_args_is_help=True
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", "-t", help="Tenant (default: the only one).")
]
PARTS = ("sms", "whatsapp", "email_subject", "email_text", "email_html")


@app.command("list")
def list_templates(ctx: typer.Context, tenant: TenantOption = None, json: JsonFlag = False) -> None:
    """Events with their variables (shipped and declared), and which parts the tenant overrides."""
    context = ctx.ensure_object(CliContext)
    catalog, name = context.relay().templates, context.tenant(tenant)
    rows: list[dict[str, Any]] = []
    table = Table("event", "variables (* required)", "overridden", title=f"Templates of {name}")
    for event in catalog.events(name):
        overridden = [p for p in PARTS if catalog.is_overridden(name, event.name, p)]
        rows.append(
            {
                "event": event.name,
                "title": event.title,
                "variables": [
                    {
                        "name": v.name,
                        "required": v.required,
                        "description": v.description,
                        "example": v.example,
                    }
                    for v in event.variables
                ],
                "overridden": overridden,
            }
        )
        names = ", ".join(v.name + ("*" if v.required else "") for v in event.variables)
        table.add_row(event.name, names, ", ".join(overridden))
    if json:
        print_json(rows)
    else:
        stdout.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    event: str,
    part: Annotated[str, typer.Argument(help=f"One of {', '.join(PARTS)}.")] = "sms",
    tenant: TenantOption = None,
) -> None:
    """Print the template source in effect for the tenant."""
    context = ctx.ensure_object(CliContext)
    try:
        source = context.relay().templates.source(event, part, context.tenant(tenant))
    except RelaykitError as exc:
        fail(str(exc), code=EXIT_CONFIG)
        return
    stdout.print(source, markup=False, highlight=False)


@app.command("preview")
def preview(
    ctx: typer.Context,
    event: str,
    part: Annotated[str, typer.Argument(help=f"One of {', '.join(PARTS)}.")] = "sms",
    data: Annotated[
        str | None, typer.Option(help="Test values as JSON (default: examples).")
    ] = None,
    tenant: TenantOption = None,
    json: JsonFlag = False,
) -> None:
    """Render with test values: text, length, SMS segments and encoding, warnings."""
    context = ctx.ensure_object(CliContext)
    try:
        result = context.relay().templates.preview(
            event, part, json_argument(data, "--data"), context.tenant(tenant)
        )
    except RelaykitError as exc:
        fail(str(exc), code=EXIT_CONFIG)
        return
    report = {
        "text": result.text,
        "length": result.characters,
        "origin": result.origin,
        "segments": result.segments,
        "encoding": result.encoding,
        "warnings": [{"kind": str(w.kind), "message": w.message} for w in result.warnings],
    }
    if json:
        print_json(report)
        return
    stdout.print(result.text, markup=False, highlight=False)
    sms = f", {result.segments} segment(s), {result.encoding}" if result.segments else ""
    stdout.print(f"[dim]{result.characters} characters{sms} ({result.origin})[/]")
    for warning in result.warnings:
        stdout.print(f"[yellow]warning[/]: {escape(warning.message)}")


@app.command("set")
def set_template(
    ctx: typer.Context,
    event: str,
    part: str,
    source: Annotated[str | None, typer.Option(help="The template text.")] = None,
    file: Annotated[Path | None, typer.Option(help="Read the template from a file.")] = None,
    tenant: TenantOption = None,
) -> None:
    """Override one part of an event's template for the tenant (validated first)."""
    context = ctx.ensure_object(CliContext)
    if (source is None) == (file is None):
        fail("give exactly one of --source or --file", code=EXIT_CONFIG)
    text = source if source is not None else Path(str(file)).read_text("utf-8")
    name = context.tenant(tenant)
    try:
        context.relay().templates.set_override(name, event, part, text)
    except RelaykitError as exc:
        fail(str(exc), code=EXIT_CONFIG)
        return
    stdout.print(f"{name}: {event}/{part} overridden")


@app.command("reset")
def reset(
    ctx: typer.Context,
    event: str,
    part: Annotated[
        str | None, typer.Argument(help="One part, or every part when omitted.")
    ] = None,
    tenant: TenantOption = None,
) -> None:
    """Return the tenant's template (one part, or all) to the shipped default."""
    context = ctx.ensure_object(CliContext)
    name = context.tenant(tenant)
    try:
        context.relay().templates.reset_override(name, event, part)
    except RelaykitError as exc:
        fail(str(exc), code=EXIT_CONFIG)
        return
    stdout.print(f"{name}: {event}/{part or 'all parts'} reset to the default")
