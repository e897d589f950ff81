"""relaykit's HTTP service: provider webhooks and a JSON API for workflow engines.

``create_app(relay)`` builds the Starlette app; ``relaykit serve`` runs it
under uvicorn; :class:`EmbeddedServer` runs it inside another program's
event loop (the demo, tests). See ``docs/service.md``.
"""

from relaykit.service._app import create_app
from relaykit.service._auth import hash_api_key, new_api_key
from relaykit.service._openapi import openapi_document, openapi_json
from relaykit.service._server import EmbeddedServer, uvicorn_config

__all__ = [
    "EmbeddedServer",
    "create_app",
    "hash_api_key",
    "new_api_key",
    "openapi_document",
    "openapi_json",
    "uvicorn_config",
]
