"""An email instance's settings, typed, with defaults and the checks JSON Schema cannot express."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from relaykit.contract import ConfigError, InstanceConfig
from relaykit_email._fields import FieldValueError, check_header_text, normalize_address

__all__ = ["DEFAULT_PORTS", "DEFAULT_SUBJECT", "EmailSettings", "Security"]

Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: Mapping[str, int] = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_SUBJECT = "New message"
DEFAULT_TIMEOUT = 30.0
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """What the connector needs from an instance's settings; secrets stay ``SecretStr``."""

    host: str
    port: int
    security: Security
    from_address: str
    from_name: str = ""
    reply_to: str | None = None
    return_path: str | None = None
    default_subject: str = DEFAULT_SUBJECT
    timeout: float = DEFAULT_TIMEOUT
    test_recipient: str | None = None
    ca_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    bounce_secret: SecretStr | None = field(default=None, repr=False)

    @property
    def envelope_sender(self) -> str:
        """``MAIL FROM``: where the relay sends bounces."""
        return self.return_path or self.from_address

    @property
    def from_domain(self) -> str:
        return self.from_address.rpartition("@")[2]

    @classmethod
    def from_config(cls, config: InstanceConfig) -> EmailSettings:
        """Read ``config.settings`` (already schema-validated by the host).

        :raises ConfigError: naming the setting and the fix, e.g. ``security: none``
            on a host that is not loopback, an unreadable ``ca_file``, or an
            address or display name that is invalid or would break a header.
        """
        raw = config.settings
        where = f"tenants.{config.tenant}.instances.{config.name}.settings"
        try:
            return cls._parse(raw, where)
        except FieldValueError as exc:
            raise ConfigError(exc.reason, location=f"{where}.{exc.field}") from None

    @classmethod
    def _parse(cls, raw: Mapping[str, Any], where: str) -> EmailSettings:
        host = str(raw.get("host", "")).strip()
        if not host:
            raise ConfigError("is required: the SMTP relay's host name", location=f"{where}.host")
        security: Security = raw.get("security", "starttls")
        if security not in DEFAULT_PORTS:
            raise ConfigError("must be starttls, tls or none", location=f"{where}.security")
        if security == "none" and not _is_loopback(host) and not raw.get("allow_insecure", False):
            raise ConfigError(
                f"is 'none' but host {host!r} is not loopback: mail and the password would "
                "cross the network in clear text; use security 'starttls' or 'tls', or set "
                "allow_insecure: true if the network path is trusted",
                location=f"{where}.security",
            )
        username = raw.get("username") or None
        password = _secret(raw.get("password"))
        if (username is None) != (password is None):
            missing = "password" if password is None else "username"
            raise ConfigError(
                "is required when the other SMTP credential is set",
                location=f"{where}.{missing}",
            )
        ca_file = Path(raw["ca_file"]) if raw.get("ca_file") else None
        if ca_file is not None and not ca_file.is_file():
            raise ConfigError(
                f"{ca_file} is not a readable file; point it at the PEM file of the CA that "
                "signed the relay's certificate, or remove it to use the system's CAs",
                location=f"{where}.ca_file",
            )
        return cls(
            host=host,
            port=int(raw.get("port") or DEFAULT_PORTS[security]),
            security=security,
            from_address=normalize_address("from_address", str(raw.get("from_address", ""))),
            from_name=check_header_text("from_name", str(raw.get("from_name", ""))),
            reply_to=_optional_address(raw, "reply_to"),
            return_path=_optional_address(raw, "return_path"),
            default_subject=check_header_text(
                "default_subject", str(raw.get("default_subject") or DEFAULT_SUBJECT)
            ),
            timeout=float(raw.get("timeout") or DEFAULT_TIMEOUT),
            test_recipient=_optional_address(raw, "test_recipient"),
            ca_file=ca_file,
            username=check_header_text("username", str(username)) if username else None,
            password=password,
            bounce_secret=_secret(raw.get("bounce_secret")),
        )


def _optional_address(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    return normalize_address(name, str(value)) if value else None


def _secret(value: object) -> SecretStr | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, SecretStr) else SecretStr(str(value))


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
