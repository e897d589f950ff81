"""``python -m relaykit_twilio_sandbox --port N``: serve the sandbox until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from relaykit.sandboxes import SandboxOptions
from relaykit_twilio_sandbox._factory import DEMO_CALLBACK_DELAY_S, start_sandbox


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m relaykit_twilio_sandbox",
        description="Serve a local Twilio-compatible API with the default test account.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument(
        "--callback-delay",
        type=float,
        default=DEMO_CALLBACK_DELAY_S,
        help=f"seconds between a message's statuses (default {DEMO_CALLBACK_DELAY_S})",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    options = SandboxOptions(host=args.host, port=args.port)
    async with start_sandbox(options, callback_delay=args.callback_delay) as running:
        print(f"twilio sandbox listening on {running.url}", flush=True)
        for key, value in running.settings.items():
            print(f"  {key}: {value}")
        for note in running.notes:
            print(f"  {note}")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
