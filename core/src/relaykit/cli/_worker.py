"""``relaykit worker``: send queued messages until stopped (or until idle)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from relaykit.cli._context import EXIT_CONFIG, CliContext, fail, failing_on_config_errors, stdout


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Provider calls in flight at once [default: [delivery] concurrency]."),
    ] = None,
    poll_interval: Annotated[float, typer.Option(help="Seconds between looks for due work.")] = 0.2,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once nothing is due or in flight.")
    ] = False,
) -> None:
    """Send pending messages concurrently: retries, fallbacks, crash recovery and sweeps.

    SIGHUP re-reads the settings: the secrets (a rotated token; the instances are
    re-checked at once) and the declared events (an edited [events.NAME] or events file).
    """
    from relaykit.delivery import Relay
    from relaykit.delivery.reload import reload_on_sighup
    from relaykit.delivery.worker import Worker, WorkerAlreadyRunning

    context = ctx.ensure_object(CliContext)
    with failing_on_config_errors():
        relay = Relay.from_host(context.host(), inline=False)
    runner = Worker(relay, concurrency=concurrency, poll_interval=poll_interval)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, runner.stop)
        reload_on_sighup(relay)
        try:
            stats = await runner.run(until_idle=until_idle)
        finally:
            await relay.aclose()
        stdout.print(
            f"worker stopped: {stats.attempts} attempt(s), {stats.adopted} adopted and "
            f"{stats.resent} resent after a crash, {stats.deadlines} deadline fallback(s), "
            f"{stats.swept} stuck status(es) fetched"
        )

    try:
        asyncio.run(main())
    except WorkerAlreadyRunning as exc:
        fail(str(exc), code=EXIT_CONFIG)
