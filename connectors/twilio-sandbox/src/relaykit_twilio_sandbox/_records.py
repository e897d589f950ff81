"""What the sandbox remembers: every message it created or received, every webhook it posted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from relaykit_twilio_sandbox._magic import Step

__all__ = ["CallbackDelivery", "SandboxMessage"]

Direction = Literal["outbound-api", "inbound"]


@dataclass
class CallbackDelivery:
    """One webhook the sandbox posted (or meant to post, when a fault lost it).

    :ivar kind: ``status`` for a status callback, ``inbound`` for an incoming message.
    :ivar response_status: the receiver's HTTP status; ``None`` when the post failed
        (``error`` says why) or was lost on purpose (``lost``).
    """

    kind: Literal["status", "inbound"]
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    message_sid: str
    response_status: int | None = None
    error: str | None = None
    lost: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "url": self.url,
            "params": self.params,
            "message_sid": self.message_sid,
            "response_status": self.response_status,
            "error": self.error,
            "lost": self.lost,
        }


@dataclass
class SandboxMessage:
    """A Message resource as the sandbox holds it; its status moves on as steps run.

    ``from_`` is ``None`` while a message sent through a Messaging Service is
    still ``accepted`` (the service has not picked a sender yet), as on Twilio.
    """

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    status: str
    direction: Direction
    date_created: datetime
    date_updated: datetime
    num_segments: int
    media_urls: tuple[str, ...] = ()
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    price: str | None = None
    steps: tuple[Step, ...] = ()
    callbacks: list[CallbackDelivery] = field(default_factory=list)
    #: the Content template sent (``ContentSid``), ``None`` for a free-form message
    content_sid: str | None = None
    #: the ``ValidityPeriod`` it was created with, in seconds; ``None``: Twilio's default
    validity_period: int | None = None
    #: seconds it waits in the outgoing queue before its first later status
    queue_seconds: float = 0.0

    @property
    def channel(self) -> Literal["sms", "whatsapp"]:
        return "whatsapp" if self.to.startswith("whatsapp:") else "sms"

    def as_dict(self) -> dict[str, object]:
        """A plain view for ``GET /_sandbox/messages`` (not Twilio's resource shape)."""
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "direction": self.direction,
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "content_sid": self.content_sid,
            "validity_period": self.validity_period,
            "media_urls": list(self.media_urls),
            "messaging_service_sid": self.messaging_service_sid,
            "status_callback": self.status_callback,
            "status": self.status,
            "error_code": self.error_code,
            "date_created": self.date_created.isoformat(),
            "date_sent": self.date_sent.isoformat() if self.date_sent else None,
            "callbacks": [c.as_dict() for c in self.callbacks],
        }
