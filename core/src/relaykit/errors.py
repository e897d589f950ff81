"""relaykit's one error hierarchy.

Connectors raise the ``ConnectorError`` subclasses from ``send`` and
``handle_callback``; the host decides from the class alone whether to retry,
wait, fall back to the next channel or reject a webhook. Every message names
the connector (and field or code) and, where there is one, the fix.
Messages never contain secret values.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousSendError",
    "AuthenticationError",
    "CallbackParseError",
    "CallbackVerificationError",
    "ConfigError",
    "ConnectorError",
    "DuplicateConnectorError",
    "OptOutError",
    "PacedError",
    "PermanentSendError",
    "PluginLoadError",
    "RateLimitedError",
    "RelaykitError",
    "SpecValidationError",
    "StoreError",
    "TransientSendError",
    "UnknownConnectorError",
    "UnknownInstanceError",
]


class RelaykitError(Exception):
    """Base of every error relaykit raises on purpose."""


class ConfigError(RelaykitError):
    """The configuration is wrong; the message names where and how to fix it.

    :ivar location: dotted path of the offending setting, e.g.
        ``tenants.north-high.instances.sms.settings.account_sid``.
    """

    def __init__(self, message: str, *, location: str = "") -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location


class StoreError(RelaykitError):
    """The store cannot be used (a damaged SQLite file); the message names the file and the fix."""


class PluginLoadError(RelaykitError):
    """A plugin could not be imported, registered or validated."""


class SpecValidationError(PluginLoadError):
    """A connector's spec document does not satisfy the meta-schema."""


class DuplicateConnectorError(PluginLoadError):
    """Two distributions register a connector under the same name."""


class UnknownConnectorError(RelaykitError, KeyError):
    """No connector is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownInstanceError(RelaykitError, KeyError):
    """No tenant/instance of that name is configured."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConnectorError(RelaykitError):
    """A connector could not do what was asked.

    :ivar connector: the connector's name (``twilio``, ``email``, ...).
    :ivar provider_code: the provider's own error code (Twilio ``21211``,
        SMTP ``550``), as a string, when there is one.
    """

    def __init__(self, message: str, *, connector: str = "", provider_code: str | None = None):
        super().__init__(message)
        self.connector = connector
        self.provider_code = provider_code

    def __str__(self) -> str:
        parts = [self.args[0] if self.args else ""]
        if self.provider_code:
            parts.append(f"(provider code {self.provider_code})")
        prefix = f"{self.connector}: " if self.connector else ""
        return prefix + " ".join(p for p in parts if p)


class TransientSendError(ConnectorError):
    """Nothing was sent and trying again later may work (a 5xx, a dropped connection)."""


class AmbiguousSendError(TransientSendError):
    """The request may have reached the provider (a timeout after sending).

    Before resending, the host must reconcile with the provider where it can;
    see the connector's documented at-least-once window otherwise.
    """


class RateLimitedError(TransientSendError):
    """The provider refused for rate; nothing was sent.

    :ivar retry_after: seconds to wait before the next attempt, when the
        provider said (``Retry-After``); ``None`` leaves it to the backoff.
    """

    def __init__(
        self,
        message: str,
        *,
        connector: str = "",
        provider_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, connector=connector, provider_code=provider_code)
        self.retry_after = retry_after


class PacedError(RateLimitedError):
    """relaykit's own per-sender rate limit held the send back; the connector was not called.

    A wait, not a failed attempt: the message is queued until ``retry_after``
    without using up its retries.
    """


class PermanentSendError(ConnectorError):
    """This message can never be sent this way; the host falls back to the next channel."""


class OptOutError(PermanentSendError):
    """The recipient has unsubscribed from this sender; the host records the opt-out."""


class AuthenticationError(PermanentSendError):
    """The provider rejected the instance's credentials; the host marks it not connected."""


class CallbackVerificationError(RelaykitError):
    """A webhook request failed verification (missing or wrong signature); answer 403."""


class CallbackParseError(RelaykitError):
    """A verified webhook request could not be understood; answer 400."""
