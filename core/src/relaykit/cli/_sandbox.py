"""``relaykit sandbox NAME``: run a connector's stand-in for its provider in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Annotated

import typer

from relaykit.cli._context import EXIT_CONFIG, CliContext, fail, stdout
from relaykit.errors import RelaykitError, UnknownConnectorError
from relaykit.sandboxes import RunningSandbox, SandboxOptions
from relaykit.settings import directory_problem


def sandbox(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Sandbox name, e.g. twilio or email.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 0,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where to keep what it receives (created if missing).")
    ] = None,
) -> None:
    """Run a provider sandbox (a local Twilio-compatible server, an SMTP sink) until Ctrl-C."""
    plugins = ctx.ensure_object(CliContext).plugins()
    try:
        factory = plugins.sandboxes.get(name)
    except UnknownConnectorError as exc:
        fail(str(exc))
        return
    problem = directory_problem(data_dir) if data_dir is not None else None
    if problem:
        fail(
            f"--data-dir: {problem}; give a directory (it is created if missing)", code=EXIT_CONFIG
        )
    options = SandboxOptions(host=host, port=port, data_dir=data_dir)
    try:
        # A factory may refuse before starting anything (e.g. its distribution is missing).
        starting = factory(options)
    except RelaykitError as exc:
        fail(str(exc), code=EXIT_CONFIG)
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(starting))


async def _serve(starting: AbstractAsyncContextManager[RunningSandbox]) -> None:
    async with starting as running:
        stdout.print(f"[bold]{running.name}[/] sandbox listening on {running.url}")
        for key, value in running.settings.items():
            stdout.print(f"  {key} = {value}")
        for note in running.notes:
            stdout.print(f"  {note}")
        stdout.print("Ctrl-C stops it.")
        await asyncio.Event().wait()
