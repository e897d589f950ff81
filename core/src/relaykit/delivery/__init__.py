"""The delivery engine: routing and fallback, recipients, limits, templates, the Python API."""

from relaykit.delivery.reasons import FallbackReason
from relaykit.delivery.relay import NotPermittedError, Relay, RetryPolicy

__all__ = ["FallbackReason", "NotPermittedError", "Relay", "RetryPolicy"]
