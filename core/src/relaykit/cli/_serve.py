"""``relaykit serve``: the HTTP service (webhooks and the JSON API) under uvicorn."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Annotated

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from relaykit.cli._context import EXIT_CONFIG, CliContext, fail, failing_on_config_errors, stderr
from relaykit.logs import configure_logging


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to bind [default: service.host, 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to bind [default: service.port, 8080].")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    openapi: Annotated[
        bool, typer.Option("--openapi", help="Print the OpenAPI document and exit.")
    ] = False,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant",
            "-t",
            help="With --openapi: the document as this tenant's key gets it from "
            "GET /v1/openapi.json (its configured events).",
        ),
    ] = None,
) -> None:
    """Serve provider webhooks and the JSON API until Ctrl-C."""
    from relaykit.service import create_app, openapi_json, uvicorn_config

    context = ctx.ensure_object(CliContext)
    if tenant is not None and not openapi:
        fail("--tenant goes with --openapi (serve serves every tenant)", code=EXIT_CONFIG)
    if openapi:
        sys.stdout.write(openapi_json() if tenant is None else _tenant_document(context, tenant))
        return
    from relaykit.delivery import Relay

    # Relay.from_config, unlike CliContext.relay(), applies the [delivery] settings (inline or
    # queued for `relaykit worker`, retries), which matter for a long-running service.
    with failing_on_config_errors():
        relay = Relay.from_config(context.config_path, plugins=context.plugins())
    settings = relay.host.settings
    configure_logging(format=settings.log.format, level=settings.log.level)
    bind_host = host or settings.service.host
    bind_port = settings.service.port if port is None else port
    public = settings.public_base()
    stderr.print(
        f"relaykit serving on http://{bind_host}:{bind_port} "
        f"({workers} worker{'s' if workers > 1 else ''}); webhooks are verified against "
        + (public if public else "[bold red]no public_base_url: webhooks answer 503[/]"),
        highlight=False,
    )
    if workers == 1:
        app = create_app(relay, close_relay=True, reload_on_sighup=True)
        config = uvicorn_config(app, bind_host, bind_port, access_log=access_log)
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C once stopped
            uvicorn.Server(config).run()
        return
    relay.close()  # each worker builds its own from the same configuration
    if context.config_path is not None:
        os.environ["RELAYKIT_CONFIG"] = str(context.config_path)
    config = uvicorn_config(
        "relaykit.service._factory:app_from_config",
        bind_host,
        bind_port,
        factory=True,
        workers=workers,
        access_log=access_log,
    )
    with contextlib.suppress(KeyboardInterrupt):
        _Supervisor(config, sockets=[config.bind_socket()]).run()


def _tenant_document(context: CliContext, tenant: str) -> str:
    """The OpenAPI document of ``tenant``, from the configuration's events; exits 2 if bad."""
    from relaykit.service import openapi_json
    from relaykit.settings import load_settings
    from relaykit.templates import TemplateCatalog

    with failing_on_config_errors():
        settings = load_settings(context.config_path)
        settings.tenant(tenant)  # unknown: names the configured ones
        events = TemplateCatalog(declared=settings.declared_events()).events(tenant)
    return openapi_json(events, tenant=tenant)


class _Supervisor(Multiprocess):
    """uvicorn's worker supervisor, but SIGHUP goes to each worker, which re-reads its secrets.

    uvicorn's own answer to SIGHUP replaces the workers one by one, and until
    the last is replaced an old one keeps sending with the old token.
    """

    def handle_hup(self) -> None:
        for worker in self.processes:
            if worker.process.pid is not None and worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGHUP)
