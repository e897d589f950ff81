"""The settings of one Twilio instance, declared once: schema, defaults and checks.

``relaykit specs export`` writes spec.json's ``settings_schema`` from this
model; the host validates each instance with it and hands the connector the
parsed model. The sender fields keep the schema's ``oneOf`` of the three forms
for the published document, and their validator gives the exact, field-naming
explanation of a bad sender (the schema alone can only say "not valid under
any of the given schemas").
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    WithJsonSchema,
    field_validator,
)

from relaykit.contract import ConnectorSettings
from relaykit_twilio.senders import Sender, parse_sender

__all__ = ["DEFAULT_API_BASE_URL", "TwilioSettings"]

DEFAULT_API_BASE_URL = "https://api.twilio.com"
_E164 = r"^\+[1-9][0-9]{6,14}$"
_REGION = r"^[A-Z]{2}$"


def _sms_sender(value: object) -> Sender:
    return parse_sender(str(value), whatsapp=False)


def _whatsapp_sender(value: object) -> Sender:
    return parse_sender(str(value), whatsapp=True)


def _sender_text(sender: Sender) -> str:
    return sender.value


#: text in the schema and the config, a parsed :class:`Sender` in the model
SmsSender = Annotated[
    Sender,
    PlainValidator(_sms_sender),
    PlainSerializer(_sender_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "oneOf": [
                {"title": "phone number (E.164)", "pattern": _E164},
                {"title": "Messaging Service SID", "pattern": "^MG[0-9a-f]{32}$"},
                {
                    "title": "alphanumeric sender ID",
                    "pattern": "^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$",
                    "not": {"pattern": "^MG[0-9a-f]{4,}$"},
                },
            ],
        }
    ),
]
WhatsAppSender = Annotated[
    Sender,
    PlainValidator(_whatsapp_sender),
    PlainSerializer(_sender_text, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^((whatsapp:)?\+[1-9][0-9]{6,14}|MG[0-9a-f]{32})$"}
    ),
]
Region = Annotated[str, Field(pattern=_REGION)]


class TwilioSettings(ConnectorSettings):
    """A Twilio instance's settings. ``auth_token`` stays wrapped until the SDK needs it."""

    account_sid: str = Field(
        pattern=r"^AC[0-9a-f]{32}$",
        description="the Twilio Account SID from the Twilio Console: AC followed by 32 "
        "lower-case hex digits",
    )
    # The length floor guards the config (the host checks the schema); the model itself
    # accepts any token, so a connector built by hand can use Twilio's 5-character test vector.
    auth_token: SecretStr = Field(
        json_schema_extra={"minLength": 8},
        description="the Twilio Auth Token from the Twilio Console (secret; also verifies "
        "webhook signatures)",
    )
    sms_sender: SmsSender | None = Field(
        None,
        description="who SMS come from: a Twilio phone number in E.164 form (+15017122661), "
        "a Messaging Service SID (MG followed by 32 hex digits), or an alphanumeric sender ID "
        "(1-11 ASCII letters, digits and spaces, not digits only)",
    )
    whatsapp_sender: WhatsAppSender | None = Field(
        None,
        description="who WhatsApp messages come from: the approved WhatsApp sender number in "
        "E.164 form, optionally written whatsapp:+15017122661, or a Messaging Service SID "
        "(MG followed by 32 hex digits)",
    )
    test_recipient: str | None = Field(
        None,
        pattern=_E164,
        description="the phone number (E.164, e.g. +15558675310) that `relaykit check "
        "--send-test` sends a test message to",
    )
    allowed_countries: frozenset[Region] | None = Field(
        None,
        description="destination countries this instance may send to (ISO 3166-1 alpha-2 "
        "codes such as US, GB), mirroring the Twilio account's geographic permissions; others "
        "are refused before any API call. Omit to leave it to Twilio",
    )
    default_region: str | None = Field(
        None,
        pattern=_REGION,
        description="ISO 3166-1 alpha-2 region (e.g. GB) used to read recipient numbers "
        "written without a leading +; omit to require E.164",
    )
    max_body_length: int = Field(
        1000,
        ge=1,
        le=1600,
        description="longest message body accepted, in characters (Twilio's limit is 1600)",
    )
    public_base_url: str | None = Field(
        None,
        pattern=r"^https?://[^/@\s?#]+(/[^@\s?#]*)?$",
        description="override of the public base URL at which Twilio reaches this instance's "
        "webhooks (scheme and host, e.g. https://relay.example.org); normally the host's "
        "public base URL is used",
    )
    api_base_url: str = Field(
        DEFAULT_API_BASE_URL,
        pattern=r"^https?://[^/@\s?#]+/?$",
        description="base URL of the Twilio REST API (scheme, host and port only); point it "
        "at a local Twilio-compatible server for tests and demos",
    )
    request_timeout_seconds: float = Field(
        15.0,
        gt=0,
        le=120,
        description="how long one API call may take before it is abandoned, in seconds",
    )
    max_connections: int = Field(
        100,
        ge=1,
        le=1000,
        description="API connections this instance keeps open at once (sends in flight at "
        "most); at 150 ms a call, 100 connections carry about 650 messages a second",
    )

    @field_validator("public_base_url", "api_base_url")
    @classmethod
    def _without_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") or None if value else None

    def __repr__(self) -> str:
        return f"TwilioSettings(account_sid={self.account_sid!r}, auth_token='**********')"
