"""Keeping secrets out of everything relaykit writes.

Every secret setting is registered here when its instance is configured.
:func:`redact` replaces each registered secret in a text - raw, URL-encoded,
hex, and base64 at any byte alignment (so a password inside an SMTP
``AUTH PLAIN`` blob is caught too) - and the logging processors call it on
every event.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["REDACTED", "SecretRegistry", "encoded_forms", "redact", "register_secret", "secrets"]

REDACTED = "[REDACTED]"
_MIN_SECRET_LENGTH = 4


def encoded_forms(secret: str) -> set[str]:
    """The forms a secret can take in output: raw, URL-encoded, hex, and base64 cores.

    A base64 *core* is the part of the encoding that depends only on the
    secret's bytes, for each of the three alignments it can have inside a
    longer base64 text.
    """
    raw = secret.encode("utf-8")
    forms = {secret, quote(secret, safe=""), quote_plus(secret), raw.hex(), raw.hex().upper()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(raw).decode("ascii"))
        forms.add(encode(raw).decode("ascii").rstrip("="))
        for offset in range(3):
            text = encode(b"\0" * offset + raw).decode("ascii")
            start = 4 if offset else 0
            end = len(text) - (4 if (offset + len(raw)) % 3 else 0)
            core = text[start:end] if end > start else ""
            if len(core) >= 8:
                forms.add(core)
    return {f for f in forms if len(f) >= _MIN_SECRET_LENGTH}


class SecretRegistry:
    """The set of secret values to redact, with a compiled pattern rebuilt on change."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Register a secret value (and all its encoded forms)."""
        if len(secret) < _MIN_SECRET_LENGTH:
            return
        with self._lock:
            new = encoded_forms(secret) - self._forms
            if new:
                self._forms |= new
                self._pattern = None

    def add_all(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            self.add(secret)

    def clear(self) -> None:
        with self._lock:
            self._forms.clear()
            self._pattern = None

    def redact(self, text: str) -> str:
        """``text`` with every registered secret form replaced by ``[REDACTED]``."""
        pattern = self._pattern
        if pattern is None:
            if not self._forms:
                return text
            with self._lock:
                ordered = sorted(self._forms, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(map(re.escape, ordered)))
        return pattern.sub(REDACTED, text)


#: The process-wide registry: logs are process-wide too.
secrets = SecretRegistry()


def register_secret(secret: str) -> None:
    """Register a secret value with the process-wide registry."""
    secrets.add(secret)


def redact(text: str) -> str:
    """Redact every registered secret from ``text``."""
    return secrets.redact(text)
