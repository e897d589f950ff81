"""A tenant's broadcast policy (``[tenants.T.broadcasts]``): what pacing does at the deadline."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["MAX_DEADLINE_SECONDS", "BroadcastPolicy", "Unreachable"]

#: The longest deadline a broadcast takes: 30 days (a longer one is a mistake; an absurd
#: one would overflow the date arithmetic of its messages' deadlines).
MAX_DEADLINE_SECONDS = 30 * 24 * 3600

#: What happens to a broadcast recipient its senders cannot reach within the deadline.
Unreachable = Literal["fallback", "wait"]


class BroadcastPolicy(BaseModel):
    """How a tenant's broadcasts treat their deadline.

    :ivar unreachable_within_deadline: a recipient whose message the broadcast's
        senders cannot send within its deadline at their rate: ``"fallback"``
        [default] skips that channel (reason ``paced_past_deadline``) so the
        route's next step (email) carries it now; ``"wait"`` keeps it queued for
        its turn on the sender, however late. The default suits an emergency
        alert: an email now beats an SMS hours after the school closed.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)

    unreachable_within_deadline: Unreachable = "fallback"
