"""The servers the callbacks benchmark drives, each under uvicorn with one worker.

``--mode relaykit``: ``relaykit serve``'s app on a fresh relay whose store is first
seeded with ``--seed`` sent SMS (dispatched through relaykit to an in-process
lean endpoint); the message ids and SIDs go to ``--manifest`` as JSON.
``--mode bare``: a Starlette app on the same uvicorn settings that only reads the
form and checks ``X-Twilio-Signature`` with the connector's own verifier.

Prints ``listening on URL`` once ready; serves until SIGTERM. With ``--profile PATH``
the serving (not the seeding) runs under cProfile, whose stats go to ``PATH`` on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import signal
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl

from _endpoint import _Protocol
from _senders import AUTH_TOKEN, DATA, EVENT, build_relay, numbers, quiet_logging, recipient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relaykit.delivery import Relay
from relaykit.errors import CallbackVerificationError
from relaykit.service import EmbeddedServer, create_app
from relaykit_twilio.signatures import FormParams, verify_signature


def bare_app(public_base: str) -> Starlette:
    """Verify the signature over the public URL, answer 200; nothing else."""

    async def webhook(request: Request) -> Response:
        body = await request.body()
        url = public_base + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
        try:
            verify_signature(
                url=url,
                params=FormParams(parse_qsl(body.decode(), keep_blank_values=True)),
                headers=headers,
                auth_token=AUTH_TOKEN,
            )
        except CallbackVerificationError:
            return Response(status_code=403)
        return Response(b"", media_type="text/plain")

    return Starlette(
        routes=[Route("/webhooks/{tenant}/{instance}/{kind}", webhook, methods=["POST"])]
    )


async def _seed(
    server: EmbeddedServer, data_dir: Path, count: int
) -> tuple[Relay, list[dict[str, str]]]:
    loop = asyncio.get_running_loop()
    endpoint = await loop.create_server(lambda: _Protocol(0.0), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{endpoint.sockets[0].getsockname()[1]}"
    relay = build_relay(url, data_dir, public_base_url=server.url)
    sent = []
    people = iter(enumerate(numbers()))
    for _ in range(count):
        index, number = next(people)
        record = await relay.anotify("north-high", EVENT, recipient(index, number), DATA)
        message = record.messages[-1]
        sent.append({"id": message.id, "sid": str(message.provider_message_id), "to": number})
    endpoint.close()
    return relay, sent


async def main(mode: str, seed: int, manifest: Path | None, profile: Path | None) -> None:
    quiet_logging()
    server = EmbeddedServer()
    with tempfile.TemporaryDirectory(prefix="relaykit-callbacks-") as data_dir:
        if mode == "relaykit":
            relay, sent = await _seed(server, Path(data_dir), seed)
            if manifest is not None:
                manifest.write_text(json.dumps(sent))
            app = create_app(relay)
        else:
            app = bare_app(server.url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        profiler = cProfile.Profile() if profile is not None else None
        async with server.serving(app):
            if profiler is not None:
                profiler.enable()
            print(f"listening on {server.url}", flush=True)
            await stop.wait()
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)


if __name__ == "__main__":
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["relaykit", "bare"], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manifest", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    uvloop.run(main(args.mode, args.seed, args.manifest, args.profile))
