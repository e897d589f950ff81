"""``relaykit config validate``: load and validate the settings without contacting any provider."""

from __future__ import annotations

from typing import Annotated

import typer

from relaykit.cli._context import CliContext, print_json, stdout

app = typer.Typer(help="Inspect and validate the configuration.", no_args_is_help=True)


@app.command("validate")
def validate(
    ctx: typer.Context,
    json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Validate relaykit.toml, env vars and every instance's connector settings."""
    host = ctx.ensure_object(CliContext).host()
    instances = [
        {"instance": config.label, "connector": config.connector}
        for config in host.configs.values()
    ]
    if json:
        print_json({"valid": True, "instances": instances})
        return
    stdout.print(f"configuration is valid: {len(instances)} instance(s)")
    for item in instances:
        stdout.print(f"  {item['instance']} ({item['connector']})")
