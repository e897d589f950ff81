"""What an SMTP failure means: the error ``send`` raises, the state ``authenticate`` reports.

``send``:

============================================  ==========================
SMTP reply or condition                       raises
============================================  ==========================
bad address / unsafe header value (local)     PermanentSendError
refused, unreachable, timeout before DATA     TransientSendError
TLS handshake/certificate failure, or no      TransientSendError
STARTTLS offered (never falls back to clear)
server closed the connection before DATA      TransientSendError
4xx at any step (421, 450, 451, 452, 454)     TransientSendError
5xx at greeting, MAIL, RCPT or DATA           PermanentSendError
5xx to AUTH (535, 534, 538) or 530 at MAIL,   AuthenticationError
or credentials set but the server has no AUTH
disconnect or timeout once DATA was sent      AmbiguousSendError
============================================  ==========================
"""

from __future__ import annotations

from relaykit.contract import (
    AmbiguousSendError,
    AuthenticationError,
    ConnectionState,
    ConnectionStatus,
    ConnectorError,
    PermanentSendError,
    TransientSendError,
)
from relaykit_email._settings import EmailSettings
from relaykit_email._smtp import FailureKind, Phase, SmtpFailure

__all__ = ["connection_status", "send_error"]

CONNECTOR = "email"
_AUTH_REQUIRED = 530
_WHAT = {
    Phase.CONNECT: "the connection",
    Phase.TLS: "TLS",
    Phase.AUTH: "the login",
    Phase.MAIL: "the sender",
    Phase.RCPT: "the recipient",
    Phase.DATA: "the message",
    Phase.NOOP: "NOOP",
}


def send_error(failure: SmtpFailure, relay: str) -> ConnectorError:
    """The :class:`relaykit.ConnectorError` for a failed send to ``relay`` (``host:port``)."""
    kind, phase, code = failure.kind, failure.phase, failure.code
    if kind is FailureKind.REPLY and code is not None:
        reply = f"{relay} refused {_WHAT[phase]}: {code} {failure.text}"
        provider_code = str(code)
        if (phase is Phase.AUTH and code >= 500) or code == _AUTH_REQUIRED:
            return AuthenticationError(
                f"{reply}; fix username/password (relaykit check shows the reason)",
                connector=CONNECTOR,
                provider_code=provider_code,
            )
        if 400 <= code < 500:
            return TransientSendError(
                f"{reply}; nothing was sent, try again later",
                connector=CONNECTOR,
                provider_code=provider_code,
            )
        if 500 <= code < 600:
            return PermanentSendError(reply, connector=CONNECTOR, provider_code=provider_code)
    if kind is FailureKind.NO_AUTH:
        return AuthenticationError(
            f"{relay} offers no AUTH but username/password are set; use security starttls "
            "or remove the credentials",
            connector=CONNECTOR,
        )
    if phase is Phase.DATA:
        return AmbiguousSendError(
            f"{relay}: {failure.kind} after the message was sent ({failure.text}); it may have "
            "been accepted - SMTP has no way to look it up, so a resend may duplicate it",
            connector=CONNECTOR,
            provider_code=str(code) if code is not None else None,
        )
    return TransientSendError(
        f"{relay}: {_describe(failure)}; nothing was sent, try again later",
        connector=CONNECTOR,
        provider_code=str(code) if code is not None else None,
    )


def connection_status(failure: SmtpFailure, settings: EmailSettings) -> ConnectionStatus:
    """The :class:`relaykit.ConnectionStatus` for a failed check; ``detail`` is one sentence."""
    relay = f"{settings.host}:{settings.port}"
    kind, phase, code = failure.kind, failure.phase, failure.code
    if kind in (FailureKind.TLS, FailureKind.NO_STARTTLS) or (
        phase is Phase.TLS and kind is not FailureKind.REPLY
    ):
        return ConnectionStatus(
            ConnectionState.TLS_FAILURE,
            f"TLS with {relay} failed ({failure.text}); check the security setting "
            f"({settings.security}), the port, and ca_file if the relay uses a private CA.",
        )
    if kind is FailureKind.NO_AUTH:
        return ConnectionStatus(
            ConnectionState.MISCONFIGURED,
            f"{relay} offers no AUTH on this connection; use security starttls (many relays "
            "offer AUTH only after it) or remove username and password.",
        )
    if kind is FailureKind.REPLY and code is not None:
        return _reply_status(failure, code, relay, settings)
    return ConnectionStatus(
        ConnectionState.UNREACHABLE,
        f"could not talk to {relay} ({_describe(failure)}); check host, port and that this "
        "machine may reach the relay.",
    )


def _reply_status(
    failure: SmtpFailure, code: int, relay: str, settings: EmailSettings
) -> ConnectionStatus:
    reply = f"{code} {failure.text}"
    phase = failure.phase
    if code == _AUTH_REQUIRED:
        return ConnectionStatus(
            ConnectionState.INVALID_CREDENTIALS,
            f"{relay} requires a login ({reply}); set username and password.",
        )
    if phase is Phase.AUTH and code == 535:
        return ConnectionStatus(
            ConnectionState.INVALID_CREDENTIALS,
            f"{relay} rejected the username or password ({reply}); check both.",
        )
    if phase is Phase.AUTH and code >= 500:
        return ConnectionStatus(
            ConnectionState.MISCONFIGURED,
            f"{relay} refused the login ({reply}); it may require TLS or another mechanism.",
        )
    if phase is Phase.MAIL and code >= 500:
        return ConnectionStatus(
            ConnectionState.SENDER_REJECTED,
            f"{relay} refused the sender {settings.envelope_sender} ({reply}); use an address "
            "the relay lets this account send from.",
        )
    if phase is Phase.TLS:
        return ConnectionStatus(ConnectionState.TLS_FAILURE, f"{relay} refused STARTTLS ({reply}).")
    temporary = " temporarily" if code < 500 else ""
    return ConnectionStatus(
        ConnectionState.UNREACHABLE,
        f"{relay}{temporary} refused {_WHAT[phase]} ({reply}); "
        + ("try again later." if temporary else "ask the relay's owner to accept this host."),
    )


def _describe(failure: SmtpFailure) -> str:
    if failure.kind is FailureKind.TLS:
        return f"TLS failed ({failure.text})"
    if failure.kind is FailureKind.NO_STARTTLS:
        return f"{failure.text}, and relaykit does not fall back to clear text"
    if failure.kind is FailureKind.TIMEOUT:
        return f"timed out during {failure.phase} ({failure.text})"
    if failure.kind is FailureKind.REPLY:
        return f"{failure.code} {failure.text} during {failure.phase}"
    return f"{failure.text} during {failure.phase}"
