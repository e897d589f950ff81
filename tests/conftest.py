"""Suite-wide settings: strict plugin loading, so a broken connector fails the run."""

import os

os.environ.setdefault("RELAYKIT_STRICT_PLUGINS", "1")
