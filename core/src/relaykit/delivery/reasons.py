"""Why a notification moved past a channel: the answer to "why did this go by email?"."""

from __future__ import annotations

import enum

__all__ = ["FallbackReason"]


class FallbackReason(enum.StrEnum):
    NO_NUMBER = "no_number"
    NO_EMAIL = "no_email"
    NO_ADDRESS = "no_address"
    OPTED_OUT = "opted_out"
    MONTHLY_LIMIT = "monthly_limit"
    TOO_LONG = "too_long"
    NOT_CONNECTED = "not_connected"
    SENDER_POOL_EXHAUSTED = "sender_pool_exhausted"
    PROVIDER_ERROR = "provider_error"
    RETRIES_EXHAUSTED = "retries_exhausted"
    UNDELIVERED = "undelivered"
    DEADLINE = "deadline"
    TEMPLATE_ERROR = "template_error"
    QUIET_HOURS = "quiet_hours"
    #: WhatsApp refused a free-form message outside its 24-hour window (Twilio 63016)
    OUTSIDE_SESSION_WINDOW = "outside_session_window"
    #: a broadcast's senders cannot reach this recipient within its deadline at their rate,
    #: and the tenant's ``broadcasts.unreachable_within_deadline`` is ``fallback``
    PACED_PAST_DEADLINE = "paced_past_deadline"
