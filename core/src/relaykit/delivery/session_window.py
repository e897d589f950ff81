"""WhatsApp's 24-hour window: the same step once more, with the event's approved template.

WhatsApp delivers a free-form ("session") message only within 24 hours of the
person's last message; outside it the provider refuses it (Twilio: error
63016, at create or, usually, as a ``failed`` status callback). The failure's
reason is then :attr:`FallbackReason.OUTSIDE_SESSION_WINDOW`, and when the
event names an approved WhatsApp template (``provider_templates.whatsapp``),
the next message is the same step - same instance, same address - carrying
that template; only when that fails too does the route move on (SMS, then
email). See docs/whatsapp.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from relaykit.delivery.planner import Plan, Planner
from relaykit.delivery.reasons import FallbackReason
from relaykit.logs import get_logger
from relaykit.results import Channel
from relaykit.store import MessageRecord, NewMessage
from relaykit.templates import TemplateError

__all__ = ["SESSION_WINDOW_CODES", "closed_window", "template_retry"]

log = get_logger("relaykit.router")

#: Provider codes for "free-form message outside the window": Twilio's, and the
#: WhatsApp Business Platform's own (re-engagement message), for direct connectors.
SESSION_WINDOW_CODES: Final = frozenset({"63016", "131047"})


def closed_window(code: str | None) -> bool:
    """Whether a provider's error ``code`` means the WhatsApp window was closed."""
    return code in SESSION_WINDOW_CODES


def template_retry(
    planner: Planner,
    plan: Plan,
    message: MessageRecord,
    reason: FallbackReason,
    now: datetime,
) -> NewMessage | None:
    """The message to try next instead of the route's next step, if there is one:
    ``message``'s step again with the event's approved WhatsApp template.

    ``None`` (move on as usual) unless ``message`` is a free-form WhatsApp
    message that failed for the window and the event names a template.
    """
    if (
        reason is not FallbackReason.OUTSIDE_SESSION_WINDOW
        or message.channel != Channel.WHATSAPP
        or message.template is not None
        or message.step >= len(plan.steps)
    ):
        return None
    try:
        template = planner.templates.provider_template(
            plan.tenant_name, plan.event, Channel.WHATSAPP, plan.data
        )
    except TemplateError as exc:
        log.warning("provider_template_unusable", message=message.id, error=str(exc))
        return None
    if template is None:
        return None
    label = f"{plan.tenant_name}/{message.instance}"
    deadline = None
    if plan.deadline is not None and planner.reports_delivery(label):
        deadline = now + plan.deadline
    return NewMessage(
        step=message.step,
        channel=Channel.WHATSAPP,
        instance=message.instance,
        to_address=message.to_address,
        body=message.body,
        sender=message.sender,
        deadline_at=deadline,
        template=template,
        priority=plan.priority,
        validity_period=plan.steps[message.step].validity_period,
    )
