"""Local stand-ins for providers (a Twilio-compatible server, an SMTP sink)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

from relaykit.errors import UnknownConnectorError

__all__ = ["RunningSandbox", "SandboxFactory", "SandboxOptions", "SandboxRegistry"]


@dataclass(frozen=True)
class SandboxOptions:
    """Where and how to start a sandbox.

    :ivar port: ``0`` picks a free port.
    :ivar data_dir: where the sandbox keeps what it receives (``None``: in memory).
    """

    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path | None = None


@dataclass(frozen=True)
class RunningSandbox:
    """A started sandbox.

    :ivar url: its base URL (``http://127.0.0.1:8081``, ``smtp://127.0.0.1:8025``).
    :ivar settings: instance settings that point a connector at it (non-secret
        values only; a sandbox's own test credentials are not secrets).
    :ivar notes: lines for a person, e.g. where received mail is stored.
    """

    name: str
    url: str
    settings: Mapping[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


SandboxFactory = Callable[[SandboxOptions], AbstractAsyncContextManager[RunningSandbox]]


class SandboxRegistry:
    """Sandbox factories by name."""

    def __init__(self) -> None:
        self._factories: dict[str, SandboxFactory] = {}

    def add(self, name: str, factory: SandboxFactory) -> None:
        self._factories[name] = factory

    def get(self, name: str) -> SandboxFactory:
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise UnknownConnectorError(f"no sandbox named {name!r} (available: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._factories))
