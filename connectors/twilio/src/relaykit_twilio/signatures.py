"""Verifying ``X-Twilio-Signature`` with the SDK's ``RequestValidator``.

Twilio signs a webhook with HMAC-SHA1 keyed by the Auth Token over the full
URL it called followed by every POST parameter (name then value, sorted by
name), base64-encoded. So:

* the URL must be the *public* URL Twilio called, built from configuration,
  never from the ``Host`` header: http↔https, a different host case or a
  reordered query string all fail (PITFALLS 7). ``RequestValidator`` also
  tries the URL with and without the scheme's default port, because Twilio
  is inconsistent about including it;
* ``RequestValidator.validate`` raises ``TypeError`` on a missing signature
  (it calls ``len(None)``), so a missing, empty or non-ASCII header is refused
  here first (PITFALLS 6);
* the signature carries no timestamp, so a verified request can still be a
  replay: events carry ``dedupe_key`` values for that (PITFALLS 8).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from relaykit import CallbackVerificationError

__all__ = ["SIGNATURE_HEADER", "FormParams", "verify_signature"]

SIGNATURE_HEADER = "x-twilio-signature"
SIGNATURE_SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"


class FormParams(dict[str, str]):
    """Form parameters as ``RequestValidator`` reads them: ``getall`` keeps repeated keys."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        pairs = list(items)
        super().__init__(pairs)
        self._all: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in pairs:
            self._all[name].append(value)

    def getall(self, name: str) -> list[str]:
        return self._all[name]


def verify_signature(
    *,
    url: str,
    params: FormParams,
    headers: Mapping[str, str],
    auth_token: str,
) -> None:
    """Check the request's ``X-Twilio-Signature`` against ``url`` and ``params``.

    :param url: the public URL Twilio called, query string included, exactly as configured.
    :param params: the POST form parameters (empty for a GET webhook).
    :param headers: request headers, names lower-cased.
    :raises CallbackVerificationError: missing, malformed or wrong signature.
    """
    from twilio.request_validator import (  # type: ignore[import-untyped]
        HMAC_SHA1,
        RequestValidator,
        get_signature_algorithm,
    )

    signature = headers.get(SIGNATURE_HEADER)
    if signature is None or not signature.strip():
        raise CallbackVerificationError(
            "twilio: the request has no X-Twilio-Signature header; refused"
        )
    if not signature.isascii():
        raise CallbackVerificationError(
            "twilio: the X-Twilio-Signature header is not ASCII, so it is not Twilio's; refused"
        )
    algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER))
    if algorithm.upper() != HMAC_SHA1:
        raise CallbackVerificationError(
            f"twilio: the request is signed with a webhook SharedKey ({algorithm}); this "
            "connector verifies Auth Token signatures only - remove the SharedKey in the Console"
        )
    if not RequestValidator(auth_token).validate(url, params, signature.strip()):
        raise CallbackVerificationError(
            "twilio: the X-Twilio-Signature does not match this request; refused "
            "(if Twilio sent it, check that the public base URL is exactly the one Twilio calls)"
        )
