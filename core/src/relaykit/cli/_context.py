"""What the commands share: the config path, output helpers, error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

from relaykit.errors import ConfigError, RelaykitError, StoreError
from relaykit.host import ConnectorHost
from relaykit.logs import configure_logging
from relaykit.plugins import PluginHost, build_plugin_host
from relaykit.redaction import redact

if TYPE_CHECKING:
    from relaykit.delivery import Relay

EXIT_FAILED = 1
EXIT_CONFIG = 2

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


@dataclass
class CliContext:
    config_path: Path | None = None
    _plugins: PluginHost | None = field(default=None, repr=False)
    _host: ConnectorHost | None = field(default=None, repr=False)
    _relay: Relay | None = field(default=None, repr=False)

    def plugins(self) -> PluginHost:
        """Installed plugins; a broken one is reported, not fatal (unless strict)."""
        if self._plugins is None:
            configure_logging(format="auto", level="warning")
            self._plugins = build_plugin_host()
        return self._plugins

    def host(self) -> ConnectorHost:
        """Plugins plus validated settings; exits 2 with the problems on a bad config."""
        if self._host is None:
            with failing_on_config_errors():
                self._host = ConnectorHost.from_config(self.config_path, plugins=self.plugins())
            log = self._host.settings.log
            configure_logging(format=log.format, level=log.level)
        return self._host

    def relay(self) -> Relay:
        """The delivery engine on the configured store; exits 2 on a bad config."""
        if self._relay is None:
            from relaykit.delivery import Relay

            with failing_on_config_errors():
                self._relay = Relay.from_host(self.host())
        return self._relay

    def tenant(self, name: str | None) -> str:
        """``name``, or the only configured tenant; exits 2 when it is ambiguous or unknown."""
        tenants = sorted(self.relay().host.settings.tenants)
        if name is None:
            if len(tenants) == 1:
                return tenants[0]
            fail(
                f"name a tenant with --tenant (configured: {', '.join(tenants) or 'none'})",
                code=EXIT_CONFIG,
            )
        if name not in tenants:
            fail(
                f"unknown tenant {name!r} (configured: {', '.join(tenants) or 'none'})",
                code=EXIT_CONFIG,
            )
        return str(name)


@contextmanager
def failing_on_config_errors() -> Iterator[None]:
    try:
        yield
    except StoreError as exc:  # not the configuration: the file it names
        fail(str(exc), code=EXIT_FAILED)
    except (ConfigError, RelaykitError) as exc:
        fail(str(exc), code=EXIT_CONFIG)


def fail(message: str, *, code: int = EXIT_FAILED) -> None:
    stderr.print(Text.assemble(("error: ", "bold red"), redact(message)), highlight=False)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Stable JSON to stdout: sorted keys, two-space indent, secrets redacted."""
    sys.stdout.write(redact(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)) + "\n")
