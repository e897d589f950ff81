"""WhatsApp's 24-hour customer service window and Content templates, as Twilio documents them.

A business may send a WhatsApp free-form message to a person only within 24
hours of that person's last message to the sender (the customer service
window); outside it, only a template WhatsApp approved is delivered. On
Twilio a free-form message outside the window is accepted (201 ``queued``)
and then ``failed`` with error 63016 in its status callback. A template is
a Content resource (``HX…``) sent with ``ContentSid`` and ``ContentVariables``
(a JSON object, ``{"1": "Sam"}``); an unknown Content SID is refused at create
with 21655. A Content template not approved for WhatsApp counts as free-form.

The window is modelled only when the account asks for it
(``SandboxAccount.whatsapp_session_window``), so free-form WhatsApp to any
number is delivered otherwise, as before.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from relaykit_twilio_sandbox._errors import TwilioApiError

__all__ = [
    "SESSION_WINDOW",
    "WINDOW_CLOSED_CODE",
    "ContentTemplate",
    "SessionWindows",
    "parse_content_variables",
]

#: How long a person's inbound WhatsApp message keeps the window open.
SESSION_WINDOW = timedelta(hours=24)
#: Twilio's error for a free-form WhatsApp message outside the window.
WINDOW_CLOSED_CODE = 63016
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


@dataclass
class ContentTemplate:
    """A Content resource of the account (Twilio Content API), e.g. ``Hello {{1}}``.

    :ivar body: the text, with ``{{key}}`` placeholders filled from ``ContentVariables``.
    :ivar whatsapp_approved: WhatsApp approved it (its approval status is ``approved``);
        only then is it delivered outside the window.
    :ivar defaults: placeholder values used where ``ContentVariables`` gives none.
    """

    body: str
    sid: str = field(default_factory=lambda: "HX" + secrets.token_hex(16))
    friendly_name: str = ""
    whatsapp_approved: bool = True
    defaults: dict[str, str] = field(default_factory=dict)

    def render(self, variables: Mapping[str, str]) -> str:
        """The body with each placeholder replaced (a value, a default, or left as it is)."""
        values = {**self.defaults, **variables}
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), self.body)

    def as_dict(self) -> dict[str, object]:
        return {
            "sid": self.sid,
            "friendly_name": self.friendly_name,
            "body": self.body,
            "whatsapp_approved": self.whatsapp_approved,
            "defaults": dict(self.defaults),
        }


@dataclass
class SessionWindows:
    """When each person last wrote to each WhatsApp sender: ``(our number, theirs)`` → time."""

    last_inbound: dict[tuple[str, str], datetime] = field(default_factory=dict)

    @staticmethod
    def _key(sender: str, recipient: str) -> tuple[str, str]:
        return sender.removeprefix("whatsapp:"), recipient.removeprefix("whatsapp:")

    def open(self, sender: str, recipient: str, at: datetime) -> None:
        """``recipient`` wrote to ``sender`` at ``at``: the window runs 24 hours from then."""
        self.last_inbound[self._key(sender, recipient)] = at

    def is_open(self, sender: str, recipient: str, now: datetime) -> bool:
        opened = self.last_inbound.get(self._key(sender, recipient))
        return opened is not None and now - opened < SESSION_WINDOW


def parse_content_variables(raw: str | None) -> dict[str, str]:
    """``ContentVariables`` as Twilio reads it: a JSON object of text values (21656 if not)."""
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TwilioApiError(
            400, 21656, "The ContentVariables Parameter is invalid: expected a JSON object."
        )
    return {str(k): v for k, v in value.items()}
