"""Magic phone numbers: Twilio's documented test numbers plus the sandbox's own.

Twilio's test credentials give fixed answers for some numbers
(https://www.twilio.com/docs/iam/test-credentials); the sandbox follows them for
every account, and adds numbers for what Twilio's test numbers cannot show:
asynchronous delivery failures, WhatsApp's 24-hour window and read receipts.

=========================  ================================================================
``From``                   outcome
=========================  ================================================================
+15005550006               valid (the default account owns it; any owned SMS number works)
+15005550001               400, 21212 invalid From number
+15005550008               400, 21611 From number's queue is full
anything not owned         400, 21606 not a message-capable number of this account
=========================  ================================================================

=========================  ================================================================
``To`` (SMS or WhatsApp)   outcome
=========================  ================================================================
+15005550001               400, 21211 invalid To number
+15005550002               400, 21612 cannot route to this number
+15005550003               400, 21408 no permission for the region
+15005550004               400, 21610 recipient unsubscribed (opted out)
+15005550009               400, 21614 not a mobile number
whatsapp:+15005550016      sandbox: 400, 63016 outside the WhatsApp 24-hour window (at create;
                           an approved Content template goes through)
whatsapp:+15005550017      sandbox: 201, then ``failed`` with 63016 (how Twilio reports it)
whatsapp:+15005550018      sandbox: 201, then sent → delivered → ``read``
+15005550030               sandbox: 201, then sent → ``undelivered`` with 30003
+15005550031               sandbox: 201, then ``failed`` with 30008 (never sent)
+15005550033               sandbox: 201, then ``sent`` and nothing more (stuck, for sweepers)
anything else              201, then sent → delivered
=========================  ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DELIVERED",
    "Rejection",
    "Step",
    "delivery_steps",
    "from_rejection",
    "to_rejection",
]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A create call refused synchronously with Twilio's error ``code``."""

    code: int
    message: str
    status: int = 400


@dataclass(frozen=True, slots=True)
class Step:
    """One later status of a created message, posted as a status callback."""

    status: str
    error_code: int | None = None


DELIVERED = (Step("sent"), Step("delivered"))

_TO_REJECTIONS: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number {to} is not currently reachable via SMS."),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated "
        "by the 'To' number: {to}.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient {to}."),
    "+15005550009": (21614, "'To' number {to} is not a valid mobile number."),
}
_WHATSAPP_TO_REJECTIONS: dict[str, tuple[int, str]] = {
    "+15005550016": (
        63016,
        "Failed to send freeform message because you are outside the allowed window. "
        "Please use a Template.",
    ),
}
_FROM_REJECTIONS: dict[str, tuple[int, str]] = {
    "+15005550001": (
        21212,
        "The 'From' number {from_} is not a valid phone number, shortcode, "
        "or alphanumeric sender ID.",
    ),
    "+15005550008": (21611, "This 'From' number {from_} has exceeded the maximum queued messages."),
}
_STEPS: dict[str, tuple[Step, ...]] = {
    "+15005550030": (Step("sent"), Step("undelivered", 30003)),
    "+15005550031": (Step("failed", 30008),),
    "+15005550033": (Step("sent"),),
}
_WHATSAPP_STEPS: dict[str, tuple[Step, ...]] = {
    "+15005550017": (Step("failed", 63016),),
    "+15005550018": (Step("sent"), Step("delivered"), Step("read")),
}


def _split(address: str) -> tuple[bool, str]:
    whatsapp = address.startswith("whatsapp:")
    return whatsapp, address.removeprefix("whatsapp:")


def to_rejection(to: str) -> Rejection | None:
    """The documented refusal for this recipient, if it is a magic number."""
    whatsapp, bare = _split(to)
    found = _TO_REJECTIONS.get(bare) or (_WHATSAPP_TO_REJECTIONS.get(bare) if whatsapp else None)
    return Rejection(found[0], found[1].format(to=to)) if found else None


def from_rejection(from_: str) -> Rejection | None:
    """The documented refusal for this sender, if it is a magic number."""
    found = _FROM_REJECTIONS.get(_split(from_)[1])
    return Rejection(found[0], found[1].format(from_=from_)) if found else None


def delivery_steps(to: str) -> tuple[Step, ...]:
    """The statuses a message to ``to`` goes through after it is created."""
    whatsapp, bare = _split(to)
    if whatsapp and bare in _WHATSAPP_STEPS:
        return _WHATSAPP_STEPS[bare]
    return _STEPS.get(bare, DELIVERED)
