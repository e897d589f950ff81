"""The root Typer app and its global options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relaykit.cli import (
    _broadcast,
    _check,
    _config,
    _connectors,
    _demo,
    _messages,
    _new,
    _registry,
    _sandbox,
    _serve,
    _specs,
    _templates,
    _worker,
)
from relaykit.cli._context import CliContext

app = typer.Typer(
    name="relaykit",
    help="Send notifications through pluggable provider connectors.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_connectors.app, name="connectors")
app.add_typer(_config.app, name="config")
app.add_typer(_specs.app, name="specs")
app.add_typer(_messages.app, name="messages")
app.add_typer(_broadcast.app, name="broadcasts")
app.add_typer(_templates.app, name="templates")
app.add_typer(_registry.optouts, name="optouts")
app.add_typer(_registry.senders, name="senders")
app.add_typer(_new.app, name="new")
app.command("check")(_check.check)
app.command("notify")(_messages.notify)
app.command("broadcast")(_broadcast.broadcast)
app.command("usage")(_registry.usage)
app.command("sandbox")(_sandbox.sandbox)
app.command("serve")(_serve.serve)
app.command("demo")(_demo.demo)
app.command("worker")(_worker.worker)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="RELAYKIT_CONFIG",
            help="Settings file (default ./relaykit.toml).",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = CliContext(config_path=config)


def main() -> None:
    """Console-script entry point."""
    app()
