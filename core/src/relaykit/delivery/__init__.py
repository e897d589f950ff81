"""The delivery engine: routing and fallback, recipients, limits, templates, the Python API."""

from relaykit.delivery.dispatcher import RetryPolicy
from relaykit.delivery.reasons import FallbackReason
from relaykit.delivery.relay import IdempotencyKeyReusedError, NotPermittedError, Relay

__all__ = [
    "FallbackReason",
    "IdempotencyKeyReusedError",
    "NotPermittedError",
    "Relay",
    "RetryPolicy",
]
