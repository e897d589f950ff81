"""The settings of one Twilio instance, typed, with the spec's defaults applied.

The core has already validated the raw values against the spec's settings
schema; this adds defaults and the exact, field-naming explanation of a bad
sender (the schema can only say "not valid under any of the given schemas").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from relaykit.contract import ConfigError, InstanceConfig
from relaykit_twilio.senders import Sender, parse_sender

__all__ = ["DEFAULT_API_BASE_URL", "TwilioSettings"]

DEFAULT_API_BASE_URL = "https://api.twilio.com"
DEFAULT_MAX_BODY_LENGTH = 1000
DEFAULT_TIMEOUT_SECONDS = 15.0
DEFAULT_MAX_CONNECTIONS = 100


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


@dataclass(frozen=True, repr=False, eq=False)
class TwilioSettings:
    """A Twilio instance's settings. ``auth_token`` stays wrapped until the SDK needs it."""

    account_sid: str
    auth_token: _Secret
    sms_sender: Sender | None
    whatsapp_sender: Sender | None
    test_recipient: str | None
    allowed_countries: frozenset[str] | None
    default_region: str | None
    max_body_length: int
    public_base_url: str | None
    api_base_url: str
    request_timeout_seconds: float
    max_connections: int

    @classmethod
    def from_config(cls, config: InstanceConfig) -> TwilioSettings:
        """Read ``config.settings``.

        :raises ConfigError: naming the setting and the fix (never a secret value).
        """
        raw: Mapping[str, Any] = config.settings
        where = f"tenants.{config.tenant}.instances.{config.name}.settings"
        token = raw.get("auth_token")
        if token is None or not hasattr(token, "get_secret_value"):
            raise ConfigError(
                "is required and must come through relaykit's settings validation "
                "(the Auth Token from the Twilio Console)",
                location=f"{where}.auth_token",
            )
        account_sid = raw.get("account_sid")
        if not isinstance(account_sid, str) or not account_sid:
            raise ConfigError(
                "is required (the Account SID from the Twilio Console, AC…)",
                location=f"{where}.account_sid",
            )
        countries = raw.get("allowed_countries")
        return cls(
            account_sid=account_sid,
            auth_token=token,
            sms_sender=_sender(raw, "sms_sender", where, whatsapp=False),
            whatsapp_sender=_sender(raw, "whatsapp_sender", where, whatsapp=True),
            test_recipient=raw.get("test_recipient"),
            allowed_countries=frozenset(c.upper() for c in countries) if countries else None,
            default_region=raw.get("default_region"),
            max_body_length=int(raw.get("max_body_length", DEFAULT_MAX_BODY_LENGTH)),
            public_base_url=(raw.get("public_base_url") or "").rstrip("/") or None,
            api_base_url=str(raw.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"),
            request_timeout_seconds=float(
                raw.get("request_timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
            ),
            max_connections=int(raw.get("max_connections", DEFAULT_MAX_CONNECTIONS)),
        )

    def __repr__(self) -> str:
        return f"TwilioSettings(account_sid={self.account_sid!r}, auth_token='**********')"


def _sender(raw: Mapping[str, Any], name: str, where: str, *, whatsapp: bool) -> Sender | None:
    value = raw.get(name)
    if value is None:
        return None
    try:
        return parse_sender(str(value), whatsapp=whatsapp)
    except ValueError as exc:
        raise ConfigError(str(exc), location=f"{where}.{name}") from None
