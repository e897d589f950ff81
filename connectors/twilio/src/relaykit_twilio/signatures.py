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
  replay: events carry ``dedupe_key`` values for that (PITFALLS 8);
* a JSON webhook is signed over the URL alone, and the URL carries the body's
  SHA-256 in ``bodySHA256``. ``RequestValidator`` checks that hash only when
  it is handed the body as a ``str``; handed form pairs it skips it, so the
  signed URL with an empty (or any) body would verify (PITFALLS 31). Whenever
  the URL carries ``bodySHA256``, the raw body is checked against it here,
  whatever the content type says.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

from relaykit.contract import CallbackVerificationError

__all__ = ["BODY_HASH_PARAM", "SIGNATURE_HEADER", "FormParams", "signs_body", "verify_signature"]

SIGNATURE_HEADER = "x-twilio-signature"
#: Query parameter with the hex SHA-256 of the body, on URLs of JSON webhooks.
BODY_HASH_PARAM = "bodySHA256"
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


def signs_body(url: str) -> bool:
    """Whether Twilio signed the request over its body's hash (``bodySHA256`` in the URL)."""
    # the name can only hide from a substring test percent-encoded: parse only then
    if BODY_HASH_PARAM not in url and "%" not in url:
        return False
    return BODY_HASH_PARAM in parse_qs(urlsplit(url).query, keep_blank_values=True)


def verify_signature(
    *,
    url: str,
    params: FormParams,
    headers: Mapping[str, str],
    auth_token: str,
    body: bytes = b"",
) -> None:
    """Check the request's ``X-Twilio-Signature`` against ``url`` and ``params`` or ``body``.

    :param url: the public URL Twilio called, query string included, exactly as configured.
    :param params: the POST form parameters (empty for a GET webhook); not
        used when the URL carries ``bodySHA256``.
    :param headers: request headers, names lower-cased.
    :param body: the raw request body; when the URL carries ``bodySHA256``
        it must hash to that value.
    :raises CallbackVerificationError: missing, malformed or wrong signature,
        or a body that does not match ``bodySHA256``.
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
    validator = RequestValidator(auth_token)
    if signs_body(url):
        # Handed the body as a str, the SDK checks the hash again and signs the URL alone.
        signed: FormParams | str = _check_body_hash(url, body)
    else:
        signed = params
    if not validator.validate(url, signed, signature.strip()):
        raise CallbackVerificationError(
            "twilio: the X-Twilio-Signature does not match this request; refused "
            "(if Twilio sent it, check that the public base URL is exactly the one Twilio calls)"
        )


def _check_body_hash(url: str, body: bytes) -> str:
    """``body`` as text, if it is what ``bodySHA256`` in ``url`` says; the refusal names why."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CallbackVerificationError(
            "twilio: the request body is not UTF-8, so it cannot match bodySHA256; refused"
        ) from None
    expected = parse_qs(urlsplit(url).query, keep_blank_values=True)[BODY_HASH_PARAM][0]
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), expected.strip().lower()):
        raise CallbackVerificationError(
            "twilio: the request body does not match the bodySHA256 its signed URL carries; refused"
        )
    return text
