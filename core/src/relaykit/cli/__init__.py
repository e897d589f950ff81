"""The ``relaykit`` command line (Typer + rich).

Every command that prints data takes ``--json`` for workflow engines; that
output is stable and documented in ``docs/cli.md``. Exit codes: 0 success,
1 the check or operation failed, 2 bad configuration or usage.
"""

from relaykit.cli._app import app, main

__all__ = ["app", "main"]
