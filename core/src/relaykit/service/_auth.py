"""Per-tenant API keys: ``Authorization: Bearer <key>`` against the hashes in settings.

Settings hold only ``sha256:<hex>`` of each key. A presented key is hashed
and compared with every configured hash using :func:`hmac.compare_digest`,
without stopping at the first match, so the time taken says nothing about
which hash (or which tenant) came close.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from relaykit.settings import RelaykitSettings

__all__ = ["KEY_PREFIX", "ApiKeys", "hash_api_key", "new_api_key"]

KEY_PREFIX = "rk_"
#: Longer "keys" are refused unhashed: nobody's real key is this long.
_MAX_KEY_LENGTH = 512


def hash_api_key(key: str) -> str:
    """The form settings store: ``sha256:`` + the hex SHA-256 of the key's UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    """A fresh random key (``rk_`` + 43 URL-safe characters); store only its hash."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeys:
    """Which tenant, if any, an ``Authorization`` header belongs to."""

    def __init__(self, settings: RelaykitSettings) -> None:
        self._hashes = [
            (stored, tenant)
            for tenant, conf in settings.tenants.items()
            for stored in conf.api_keys
        ]

    def tenant_for(self, authorization: str | None) -> str | None:
        """The tenant whose key is presented as ``Bearer <key>``; ``None`` for anything else."""
        if not authorization:
            return None
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key or len(key) > _MAX_KEY_LENGTH:
            return None
        presented = hash_api_key(key).encode("ascii")
        found: str | None = None
        for stored, tenant in self._hashes:
            if hmac.compare_digest(presented, stored.encode("ascii")):
                found = tenant
        return found
