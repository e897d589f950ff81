"""Fault knobs: make the sandbox fail the way Twilio (or the network) sometimes does.

Counters (``fail_creates`` …) apply to the next N Messages-create calls and
count down; ``latency_ms`` delays every REST answer and ``queue_ms`` keeps every
new message queued, until they are reset. They are
checked in this order on a create call: ``rate_limit_creates`` (429, nothing
created), ``fail_creates`` (5xx, nothing created), ``drop_creates`` (connection
closed, nothing created), then the message is created, then
``fail_after_create`` (5xx although the message exists) and
``drop_after_create`` (connection closed although the message exists): the two
"maybe sent" outcomes a connector must reconcile rather than resend.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["Faults"]

_COUNTERS = (
    "rate_limit_creates",
    "fail_creates",
    "drop_creates",
    "fail_after_create",
    "drop_after_create",
    "lose_callbacks",
)


@dataclass
class Faults:
    """The current fault settings; set attributes directly, or ``update(**values)``.

    :ivar rate_limit_creates: answer 429 with code 20429 and ``Retry-After``.
    :ivar retry_after: the ``Retry-After`` value, in whole seconds.
    :ivar fail_creates: answer ``fail_status`` (code 20500 or 20503) without creating.
    :ivar fail_status: 500 or 503.
    :ivar drop_creates: close the connection without answering or creating.
    :ivar fail_after_create: create the message, then answer ``fail_status``.
    :ivar drop_after_create: create the message, then close the connection unanswered.
    :ivar latency_ms: wait this long before every REST answer, after the work is
        done (so a client timeout shorter than it is a timeout after sending).
    :ivar lose_callbacks: the next N status callbacks are not posted (the status
        still changes at the sandbox, as when Twilio gives up on a callback).
    :ivar queue_ms: each created message waits this long in Twilio's outgoing queue
        before it leaves (``sent``); one whose ``ValidityPeriod`` is shorter fails with
        30036 "Validity Period Expired" instead, as Twilio checks it on dequeue.
    """

    rate_limit_creates: int = 0
    retry_after: int = 1
    fail_creates: int = 0
    fail_status: int = 500
    drop_creates: int = 0
    fail_after_create: int = 0
    drop_after_create: int = 0
    latency_ms: int = 0
    lose_callbacks: int = 0
    queue_ms: int = 0

    def update(self, **values: Any) -> None:
        """Set several knobs; unknown names or non-integer values raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(unknown)}; known: {sorted(known)}")
        for name, raw in values.items():
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise ValueError(f"fault knob {name} needs an integer, got {raw!r}") from None
            if value < 0:
                raise ValueError(f"fault knob {name} must not be negative")
            if name == "fail_status" and value not in (500, 503):
                raise ValueError("fail_status must be 500 or 503")
            setattr(self, name, value)

    def reset(self) -> None:
        """Back to no faults at all."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, f.default)

    def take(self, counter: str) -> bool:
        """Use up one of ``counter``; True when it was armed."""
        if counter not in _COUNTERS:
            raise ValueError(f"{counter} is not a counting fault knob")
        remaining: int = getattr(self, counter)
        if remaining <= 0:
            return False
        setattr(self, counter, remaining - 1)
        return True

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)
