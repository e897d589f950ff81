"""Running the app under uvicorn: in the foreground (``relaykit serve``) or embedded.

Embedded use (the demo, tests, benchmarks) needs the service's URL before
the app exists - the relay's public base URL is that URL - so the socket is
bound first and handed to uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

__all__ = ["EmbeddedServer", "uvicorn_config"]


def uvicorn_config(app: ASGIApp | str, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn settings relaykit uses everywhere: our logging, no access log, no server header.

    :param options: further ``uvicorn.Config`` arguments; they win over these defaults.
    """
    settings: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        **options,
    }
    return uvicorn.Config(app, host=host, port=port, **settings)


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedServer:
    """uvicorn serving an app as a task of the running event loop.

    ::

        server = EmbeddedServer()            # binds 127.0.0.1 on a free port now
        relay = build_relay(public_base_url=server.url)
        async with server.serving(create_app(relay)):
            ...
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def serving(self, app: ASGIApp) -> _Serving:
        """An async context manager: serve ``app`` until it exits."""
        return _Serving(self, app)

    async def start(self, app: ASGIApp) -> None:
        self._server = _QuietServer(uvicorn_config(app, self.host, self.port))
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # startup failed: raise why
                raise RuntimeError("uvicorn stopped during startup")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._socket.close()


class _Serving:
    def __init__(self, server: EmbeddedServer, app: ASGIApp) -> None:
        self._server = server
        self._app = app

    async def __aenter__(self) -> EmbeddedServer:
        await self._server.start(self._app)
        return self._server

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._server.stop()
