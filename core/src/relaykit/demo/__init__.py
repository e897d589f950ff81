"""``relaykit demo``: the whole story on local stand-ins, with no configuration and no network.

Starts the Twilio sandbox and the SMTP sink (through the plugin registry),
the HTTP service on free 127.0.0.1 ports and a throwaway data directory,
configures one tenant in code, sends a school's notifications through the
JSON API and prints what became of each.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
from pathlib import Path

from rich.console import Console

from relaykit.demo._report import print_outcomes, print_poking
from relaykit.demo._scenario import Outcome, run_scenario
from relaykit.demo._stack import DemoStack, start_stack

__all__ = ["DemoStack", "Outcome", "run_demo"]


async def run_demo(
    console: Console, *, data_dir: Path | None = None, keep_running: bool = False
) -> int:
    """Run the demo; 0 when every notification ended as the story says, else 1.

    :param data_dir: where the database and the Maildir go (default: a new temporary directory,
        kept afterwards so the mail can be read).
    :param keep_running: after the story, keep everything up until Ctrl-C or SIGTERM.
    """
    where = data_dir or Path(tempfile.mkdtemp(prefix="relaykit-demo-"))
    where.mkdir(parents=True, exist_ok=True)
    with console.status("Starting the Twilio sandbox, the SMTP sink and relaykit serve..."):
        async with start_stack(where) as stack:
            console.print(
                f"relaykit service on {stack.service_url}, Twilio sandbox on {stack.twilio.url}, "
                f"SMTP sink on {stack.email.url}; data in {where}"
            )
            outcomes = await run_scenario(stack)
            print_outcomes(console, outcomes, stack)
            if keep_running:
                print_poking(console, stack)
                await _until_stopped()
    failed = [o.title for o in outcomes if not o.ok]
    if failed:
        console.print(f"[red]Not as expected:[/] {', '.join(failed)}")
        return 1
    return 0


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
