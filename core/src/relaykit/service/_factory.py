"""The app factory uvicorn imports in each worker process (``relaykit serve --workers N``)."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from relaykit.delivery import Relay
from relaykit.logs import configure_logging
from relaykit.service._app import create_app

__all__ = ["CONFIG_ENV", "app_from_config"]

CONFIG_ENV = "RELAYKIT_CONFIG"


def app_from_config() -> Starlette:
    """A relay from ``RELAYKIT_CONFIG`` (or ``./relaykit.toml``) and env, served by this worker."""
    relay = Relay.from_config(os.environ.get(CONFIG_ENV) or None)
    log = relay.host.settings.log
    configure_logging(format=log.format, level=log.level)
    return create_app(relay, close_relay=True, reload_on_sighup=True)
