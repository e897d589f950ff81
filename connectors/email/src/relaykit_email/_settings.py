"""An email instance's settings, declared once: schema, defaults and the checks a schema cannot say.

``relaykit specs export`` writes spec.json's ``settings_schema`` from this
model; the host validates each instance with it and hands the connector the
parsed model. The validators add what JSON Schema cannot express: the port
that follows ``security``, clear text only to loopback, a readable
``ca_file``, and addresses and display names that are valid and cannot break
a header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, SecretStr, WithJsonSchema, field_validator, model_validator

from relaykit.contract import ConnectorSettings, SettingValueError
from relaykit_email._fields import check_header_text, normalize_address

__all__ = ["DEFAULT_PORTS", "DEFAULT_SUBJECT", "EmailSettings", "Security"]

Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: Mapping[str, int] = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_SUBJECT = "New message"
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})

#: a file path, written as text in the config and the schema
FilePath = Annotated[Path, WithJsonSchema({"type": "string", "minLength": 1})]


class EmailSettings(ConnectorSettings):
    """What the connector needs from an instance's settings; secrets stay ``SecretStr``."""

    model_config = ConfigDict(
        json_schema_extra={
            "dependentRequired": {"username": ["password"], "password": ["username"]}
        }
    )

    host: str = Field(
        min_length=1,
        description="the SMTP relay's host name or IP address, e.g. smtp.example.com",
    )
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="the relay's port; default 587 for starttls, 465 for tls, 25 for none",
    )
    security: Security = Field(
        "starttls",
        description="starttls (upgrade a plain connection, usually port 587), tls (TLS from "
        "the first byte, usually port 465), or none (clear text: only for 127.0.0.1/localhost "
        "unless allow_insecure is true). relaykit never falls back from TLS to clear text",
    )
    allow_insecure: bool = Field(
        False,
        description="allow security none on a host that is not loopback (mail and password "
        "cross the network in clear text); only for a trusted network path",
    )
    ca_file: FilePath | None = Field(
        None,
        description="path to a PEM file of the CA(s) to trust for the relay's certificate, "
        "replacing the system CAs; for relays with a private CA or a self-signed certificate. "
        "Certificates are always verified",
    )
    username: str | None = Field(
        None,
        min_length=1,
        description="the SMTP AUTH user name; omit (with password) for a relay that accepts "
        "this host without a login",
    )
    password: SecretStr | None = Field(
        None, min_length=1, description="the SMTP AUTH password (secret)"
    )
    from_address: str = Field(
        min_length=3,
        description="the address messages come from, e.g. notifications@school.example; its "
        "domain needs SPF/DKIM/DMARC records that allow the relay",
    )
    from_name: str = Field(
        "",
        description="display name shown with the From address, e.g. North High School (one line)",
    )
    reply_to: str | None = Field(
        None,
        min_length=3,
        description="address replies go to when the message names none (e.g. the school office)",
    )
    return_path: str | None = Field(
        None,
        min_length=3,
        description="envelope sender (MAIL FROM) where relays send bounces, e.g. the mailbox "
        "the bounce gateway reads; default from_address",
    )
    default_subject: str = Field(
        DEFAULT_SUBJECT,
        min_length=1,
        description="subject for messages that have none (e.g. an SMS sent as email instead)",
    )
    timeout: float = Field(
        30.0,
        gt=0,
        le=300,
        description="seconds to wait for the relay at each step (connect, each command)",
    )
    test_recipient: str | None = Field(
        None,
        min_length=3,
        description="the address `relaykit check --send-test` sends a test message to",
    )
    bounce_secret: SecretStr | None = Field(
        None,
        min_length=16,
        description="shared secret the mail gateway uses to sign bounces it POSTs to the bounce "
        "webhook (HMAC-SHA256 of the body in X-Relaykit-Signature); at least 16 characters "
        "(secret)",
    )

    @property
    def envelope_sender(self) -> str:
        """``MAIL FROM``: where the relay sends bounces."""
        return self.return_path or self.from_address

    @property
    def from_domain(self) -> str:
        return self.from_address.rpartition("@")[2]

    @model_validator(mode="before")
    @classmethod
    def _port_follows_security(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("port") is None:
            security = data.get("security", "starttls")
            return {**data, "port": DEFAULT_PORTS.get(str(security), DEFAULT_PORTS["starttls"])}
        return data

    @field_validator("host")
    @classmethod
    def _host_is_named(cls, value: str) -> str:
        host = value.strip()
        if not host:
            raise SettingValueError("host", "is required: the SMTP relay's host name")
        return host

    @field_validator("from_address", "reply_to", "return_path", "test_recipient")
    @classmethod
    def _valid_address(cls, value: str | None, info: Any) -> str | None:
        return normalize_address(info.field_name, value) if value else None

    @field_validator("from_name", "default_subject", "username")
    @classmethod
    def _header_safe(cls, value: str | None, info: Any) -> str | None:
        return check_header_text(info.field_name, value) if value else value

    @field_validator("ca_file")
    @classmethod
    def _readable_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise SettingValueError(
                "ca_file",
                f"{value} is not a readable file; point it at the PEM file of the CA that "
                "signed the relay's certificate, or remove it to use the system's CAs",
            )
        return value

    @model_validator(mode="after")
    def _safe_and_complete(self) -> EmailSettings:
        if self.security == "none" and not _is_loopback(self.host) and not self.allow_insecure:
            raise SettingValueError(
                "security",
                f"is 'none' but host {self.host!r} is not loopback: mail and the password would "
                "cross the network in clear text; use security 'starttls' or 'tls', or set "
                "allow_insecure: true if the network path is trusted",
            )
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            raise SettingValueError(missing, "is required when the other SMTP credential is set")
        return self


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
