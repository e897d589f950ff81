"""The delivery engine: routing and fallback, recipients, limits, templates, the Python API."""

from relaykit.delivery.batch import (
    Accepted,
    AttemptResult,
    BatchResult,
    Deferred,
    MovedOn,
    Retry,
    Unknown,
)
from relaykit.delivery.dispatcher import RetryPolicy
from relaykit.delivery.reasons import FallbackReason
from relaykit.delivery.relay import IdempotencyKeyReusedError, NotPermittedError, Relay
from relaykit.delivery.unit import DeliverMessages

__all__ = [
    "Accepted",
    "AttemptResult",
    "BatchResult",
    "Deferred",
    "DeliverMessages",
    "FallbackReason",
    "IdempotencyKeyReusedError",
    "MovedOn",
    "NotPermittedError",
    "Relay",
    "Retry",
    "RetryPolicy",
    "Unknown",
]
