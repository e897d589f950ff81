"""``relaykit demo``: the main job end to end on local stand-ins (no config, no network)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from relaykit.cli._context import fail, stdout
from relaykit.errors import RelaykitError
from relaykit.logs import configure_logging


def demo(
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running", help="Leave everything up afterwards, for the CLI and curl."
        ),
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the database and the Maildir go [default: a new temp dir]."),
    ] = None,
) -> None:
    """Send a school's notifications through local Twilio and SMTP stand-ins; show the outcome."""
    from relaykit.demo import run_demo

    configure_logging(format="auto", level="error")  # expected refusals are in the table
    # Piped or captured output gets room for the table; a terminal keeps its own width.
    console = stdout if stdout.is_terminal else Console(width=120, soft_wrap=True)
    try:
        code = asyncio.run(run_demo(console, data_dir=data_dir, keep_running=keep_running))
    except (RelaykitError, RuntimeError, OSError) as exc:
        fail(f"the demo could not run: {exc}")
        return
    raise typer.Exit(code)
