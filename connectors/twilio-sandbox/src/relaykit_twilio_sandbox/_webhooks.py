"""Posting webhooks the way Twilio does: form-encoded, signed with the account's auth token."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from relaykit_twilio_sandbox._records import CallbackDelivery

__all__ = ["WebhookPoster", "signed_headers"]

#: Twilio answers a slow webhook with a timeout after 15 s; the sandbox does the same.
WEBHOOK_TIMEOUT_S = 15.0


def signed_headers(auth_token: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
    """The headers Twilio sends with a webhook, ``X-Twilio-Signature`` included.

    The signature is base64(HMAC-SHA1(auth token, URL + each parameter name and
    value, sorted by name)), computed by the SDK's own ``RequestValidator``.
    """
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "X-Twilio-Signature": RequestValidator(auth_token).compute_signature(url, dict(params)),
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }


class WebhookPoster:
    """One HTTP client session for every webhook a sandbox posts."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, delivery: CallbackDelivery) -> None:
        """Post ``delivery`` (its headers are already signed); record what the receiver said."""
        if self._session is None:
            raise RuntimeError("the webhook poster is not started")
        try:
            async with self._session.post(
                delivery.url, data=urlencode(delivery.params), headers=delivery.headers
            ) as response:
                await response.read()
                delivery.response_status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
