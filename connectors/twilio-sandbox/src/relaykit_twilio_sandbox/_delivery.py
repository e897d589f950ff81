"""Moving created messages through their statuses and telling the StatusCallback URL.

Each message gets one task that walks its steps in order (``sent`` then
``delivered``, say), waiting ``callback_delay`` seconds before each, so its
callbacks arrive in order. Like Twilio, nothing is posted for the status a
message starts in (``queued`` or ``accepted``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from relaykit_twilio_sandbox._accounts import SandboxAccount
from relaykit_twilio_sandbox._faults import Faults
from relaykit_twilio_sandbox._magic import Step
from relaykit_twilio_sandbox._messaging import pool_sender
from relaykit_twilio_sandbox._records import CallbackDelivery, SandboxMessage
from relaykit_twilio_sandbox._resources import API_VERSION
from relaykit_twilio_sandbox._webhooks import WebhookPoster, signed_headers

__all__ = ["ERROR_MESSAGES", "StatusProgression", "status_params"]

#: Twilio's descriptions of the asynchronous error codes the sandbox produces.
ERROR_MESSAGES = {
    30003: "Unreachable destination handset",
    30008: "Unknown error",
    30036: "Validity Period Expired",
    63016: "Failed to send freeform message because you are outside the allowed window.",
}
#: What Twilio charges for a sent segment here; any non-null price will do.
_PRICE_PER_SEGMENT = 0.0079


def status_params(message: SandboxMessage) -> dict[str, str]:
    """The form parameters of a status callback for the message's current status."""
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "From": message.from_ or "",
        "MessageSid": message.sid,
        "MessageStatus": message.status,
        "SmsSid": message.sid,
        "SmsStatus": message.status,
        "To": message.to,
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if message.error_code is not None:
        params["ErrorCode"] = str(message.error_code)
    if message.channel == "whatsapp":
        params["ChannelPrefix"] = "whatsapp"
        params["ChannelToAddress"] = message.to.removeprefix("whatsapp:")
    return params


class StatusProgression:
    """Runs every created message's later statuses and posts their callbacks."""

    def __init__(
        self,
        poster: WebhookPoster,
        faults: Faults,
        callbacks: list[CallbackDelivery],
        delay: Callable[[], float],
    ) -> None:
        self._poster = poster
        self._faults = faults
        self._callbacks = callbacks
        self._delay = delay
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, account: SandboxAccount, message: SandboxMessage) -> None:
        """Begin walking ``message`` through its steps in the background."""
        task = asyncio.get_running_loop().create_task(self._run(account, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until every message started so far has reached its last step."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run(self, account: SandboxAccount, message: SandboxMessage) -> None:
        if message.queue_seconds:  # in the outgoing queue, before anything changes
            await asyncio.sleep(message.queue_seconds)
        for step in message.steps:
            await asyncio.sleep(self._delay())
            self._apply(account, message, step)
            url = message.status_callback or self._service_callback(account, message)
            if url:
                await self._notify(account, message, url)

    @staticmethod
    def _service_callback(account: SandboxAccount, message: SandboxMessage) -> str | None:
        service = account.service(message.messaging_service_sid or "")
        return service.status_callback if service else None

    @staticmethod
    def _apply(account: SandboxAccount, message: SandboxMessage, step: Step) -> None:
        now = datetime.now(UTC)
        if message.from_ is None:  # a Messaging Service picks its sender on leaving `accepted`
            sender = pool_sender(account, message.messaging_service_sid or "")
            message.from_ = f"whatsapp:{sender}" if message.channel == "whatsapp" else sender
        message.status = step.status
        message.date_updated = now
        if step.status == "sent":
            message.date_sent = now
            message.price = f"-{_PRICE_PER_SEGMENT * message.num_segments:.5f}"
        if step.error_code is not None:
            message.error_code = step.error_code
            message.error_message = ERROR_MESSAGES.get(step.error_code, "Unknown error")

    async def _notify(self, account: SandboxAccount, message: SandboxMessage, url: str) -> None:
        params = status_params(message)
        delivery = CallbackDelivery(
            kind="status",
            url=url,
            params=params,
            headers=signed_headers(account.auth_token, url, params),
            message_sid=message.sid,
        )
        message.callbacks.append(delivery)
        self._callbacks.append(delivery)
        if self._faults.take("lose_callbacks"):
            delivery.lost = True
            return
        await self._poster.post(delivery)
