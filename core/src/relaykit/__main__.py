"""``python -m relaykit``: the CLI."""

from relaykit.cli import main

main()
