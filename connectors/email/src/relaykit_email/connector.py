"""The email connector: notifications over SMTP, bounces back through a webhook.

Importing this module is cheap (no aiosmtplib, no email-validator): those are
imported when an instance is built or first sends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from relaykit.contract import (
    CallbackOutcome,
    CallbackParseError,
    CallbackRequest,
    Channel,
    ConnectionState,
    ConnectionStatus,
    ConnectorSpec,
    InstanceConfig,
    MessageStatus,
    OutboundMessage,
    PermanentSendError,
    SendReceipt,
    load_spec_resource,
)
from relaykit_email._settings import EmailSettings

if TYPE_CHECKING:
    from relaykit_email._compose import MessageComposer
    from relaykit_email._smtp import SmtpRelay

__all__ = ["BOUNCE_CALLBACK", "EmailConnector"]

BOUNCE_CALLBACK = "bounce"


class EmailConnector:
    """Sends email through one SMTP relay (one configured instance).

    Its settings are :class:`EmailSettings` (``settings_model``): the host checks
    them, including what JSON Schema cannot express, when it loads the config,
    and raises :class:`relaykit.ConfigError` naming the setting and the fix
    (e.g. ``security: none`` on a host that is not loopback). Each send opens its
    own SMTP connection; the TLS context and EHLO name are built once.
    """

    name: ClassVar[str] = "email"
    contract_version: ClassVar[str] = "1.0"
    #: SMTP reports acceptance, never delivery: no delivery deadline applies (a bounce may fail it).
    reports_delivery: ClassVar[bool] = False
    #: the one declaration of the settings (schema, defaults, checks)
    settings_model: ClassVar[type[EmailSettings]] = EmailSettings

    def __init__(self, config: InstanceConfig) -> None:
        from relaykit_email._compose import MessageComposer

        self.config = config
        self.settings: EmailSettings = EmailSettings.from_config(config)
        self._composer: MessageComposer = MessageComposer(self.settings)
        self._relay: SmtpRelay | None = None

    def __repr__(self) -> str:
        s = self.settings
        return f"EmailConnector({self.config.label!r}, {s.host}:{s.port}, security={s.security})"

    @classmethod
    def spec(cls) -> ConnectorSpec:
        return load_spec_resource(__package__ or "relaykit_email")

    def _smtp(self) -> SmtpRelay:
        if self._relay is None:
            from relaykit_email._smtp import SmtpRelay

            self._relay = SmtpRelay(self.settings)
        return self._relay

    async def authenticate(self) -> ConnectionStatus:
        """Connect, EHLO, TLS as configured, log in, NOOP, ``MAIL FROM`` + ``RSET``, QUIT.

        Never raises for a bad setup: every failure is a typed state with a
        one-sentence detail.
        """
        from relaykit_email._outcomes import connection_status
        from relaykit_email._smtp import SmtpFailure

        relay = self._smtp()
        try:
            await relay.probe()
        except SmtpFailure as failure:
            return connection_status(failure, self.settings)
        except Exception as exc:  # a check reports; it must not crash `relaykit check`
            return ConnectionStatus(
                ConnectionState.MISCONFIGURED,
                f"checking {relay.address} failed unexpectedly ({type(exc).__name__}).",
            )
        return ConnectionStatus(
            ConnectionState.CONNECTED,
            f"{relay.address} accepted the login and the sender {self.settings.envelope_sender}.",
        )

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Build the message, hand it to the relay, return its ``Message-ID`` as the receipt id.

        A receipt means the relay answered 250 to the message; see
        ``_outcomes`` for which error each failure raises.
        """
        from relaykit_email._fields import FieldValueError
        from relaykit_email._outcomes import CONNECTOR, send_error
        from relaykit_email._smtp import SmtpFailure

        if message.channel != Channel.EMAIL:
            raise PermanentSendError(
                f"sends only email, not {message.channel}", connector=CONNECTOR
            )
        try:
            composed = self._composer.compose(message)
        except FieldValueError as exc:
            raise PermanentSendError(
                f"refused to send: {exc.field} {exc.reason}", connector=CONNECTOR
            ) from None
        relay = self._smtp()
        try:
            await relay.deliver(composed)
        except SmtpFailure as failure:
            raise send_error(failure, relay.address) from failure
        return SendReceipt(
            provider_message_id=composed.message_id,
            status=MessageStatus.SENT,
            channel=Channel.EMAIL,
            to=composed.recipient,
        )

    async def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        """Verify a bounce POSTed by the mail gateway, then read its RFC 3464 report.

        :raises CallbackVerificationError: no ``bounce_secret`` or a bad signature.
        :raises CallbackParseError: not a delivery-status report, or an unknown kind.
        """
        from relaykit_email._dsn import parse_delivery_report
        from relaykit_email.signing import verify_bounce

        secret = self.settings.bounce_secret
        verify_bounce(request, secret.get_secret_value() if secret is not None else None)
        if request.kind != BOUNCE_CALLBACK:
            raise CallbackParseError(
                f"email: no callback of kind {request.kind!r}; only {BOUNCE_CALLBACK!r}"
            )
        return CallbackOutcome(events=parse_delivery_report(request.body))

    async def aclose(self) -> None:
        """Nothing to release: no connection outlives a send."""
