"""How a mail gateway proves a bounce it POSTs came from it: HMAC-SHA256 of the body.

The gateway that receives bounces for the instance's return path POSTs each
raw message (the RFC 3464 report, unchanged) to the instance's ``bounce``
webhook with the header::

    X-Relaykit-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed with bounce_secret>

e.g. from a shell: ``openssl dgst -sha256 -hmac "$BOUNCE_SECRET" -hex < bounce.eml``.
The signature carries no timestamp, so a captured request can be replayed;
replays are harmless because every status update carries a ``dedupe_key``
derived from the report's content.
"""

from __future__ import annotations

import hashlib
import hmac

from relaykit.contract import CallbackRequest, CallbackVerificationError

__all__ = ["SIGNATURE_HEADER", "sign_bounce", "verify_bounce"]

SIGNATURE_HEADER = "X-Relaykit-Signature"
_PREFIX = "sha256="


def sign_bounce(body: bytes, secret: str) -> str:
    """The ``X-Relaykit-Signature`` value for ``body`` (what a gateway sends)."""
    return _PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_bounce(request: CallbackRequest, secret: str | None) -> None:
    """Check the request's signature in constant time.

    :raises CallbackVerificationError: no secret configured, or the header is
        missing, malformed or wrong (never says which part of it was wrong).
    """
    if not secret:
        raise CallbackVerificationError(
            "email: bounce webhooks need the bounce_secret setting; refusing an unverifiable bounce"
        )
    given = request.headers.get(SIGNATURE_HEADER.lower(), "")
    expected = sign_bounce(request.body, secret).encode("ascii")
    # compare_digest on str raises TypeError for non-ASCII; compare bytes instead.
    if not given or not hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
        raise CallbackVerificationError(
            f"email: bounce signature missing or wrong (header {SIGNATURE_HEADER})"
        )
