"""``TwilioSandbox``: a local Twilio-compatible server, started as an async context manager."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from types import TracebackType

from aiohttp import web

from relaykit_twilio_sandbox._accounts import SandboxAccount, default_account
from relaykit_twilio_sandbox._api import TwilioRestApi
from relaykit_twilio_sandbox._control import ControlApi
from relaykit_twilio_sandbox._delivery import StatusProgression
from relaykit_twilio_sandbox._errors import TwilioApiError
from relaykit_twilio_sandbox._faults import Faults
from relaykit_twilio_sandbox._inbound import receive
from relaykit_twilio_sandbox._records import CallbackDelivery, SandboxMessage
from relaykit_twilio_sandbox._webhooks import WebhookPoster, signed_headers

__all__ = ["TwilioSandbox"]

_log = logging.getLogger("relaykit_twilio_sandbox")


class TwilioSandbox:
    """A Twilio-compatible HTTP server on loopback, with the state tests inspect.

    ::

        async with TwilioSandbox() as sb:
            client.api.base_url = sb.url           # or the connector's api_base_url setting
            ...
            await sb.settle()                      # every status callback has been posted
            assert [m.status for m in sb.messages] == ["delivered"]

    :param accounts: the accounts served; the first is the default one whose
        credentials ``account_sid``/``auth_token`` give. Defaults to
        :func:`default_account`.
    :param callback_delay: seconds before each later status of a message (and
        its callback); small in tests, about a second for a demo.
    :ivar messages: every message created or received, oldest first.
    :ivar callbacks: every webhook posted (or lost on purpose), in order.
    :ivar create_attempts: Messages-create calls received, faulted ones included.
    :ivar faults: the fault knobs (see :class:`Faults`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: Sequence[SandboxAccount] | None = None,
        callback_delay: float = 0.01,
    ) -> None:
        chosen = list(accounts) if accounts is not None else [default_account()]
        if not chosen:
            raise ValueError("a sandbox needs at least one account")
        self.host = host
        self.port = port
        self.callback_delay = callback_delay
        self.accounts: dict[str, SandboxAccount] = {}
        self.default_account = chosen[0]
        for account in chosen:
            self.add_account(account)
        self.faults = Faults()
        self.messages: list[SandboxMessage] = []
        self.callbacks: list[CallbackDelivery] = []
        self.create_attempts = 0
        self._by_sid: dict[str, SandboxMessage] = {}
        self._by_account: dict[str, list[SandboxMessage]] = {}
        self._poster = WebhookPoster()
        self._progression = StatusProgression(
            self._poster, self.faults, self.callbacks, lambda: self.callback_delay
        )
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        rest = TwilioRestApi(self)
        app = web.Application(middlewares=[rest.middleware], client_max_size=256 * 1024)
        app.add_routes(rest.routes())
        app.add_routes(ControlApi(self).routes())
        return app

    async def start(self) -> None:
        """Bind and serve; ``url`` is set once this returns."""
        await self._poster.start()
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"http://{self.host}:{self.port}"
        _log.info("twilio sandbox listening on %s", self.url)

    async def stop(self) -> None:
        """Stop serving; status steps still pending are abandoned."""
        await self._progression.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._poster.close()

    async def __aenter__(self) -> TwilioSandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the default account ------------------------------------------------------------------

    @property
    def account_sid(self) -> str:
        return self.default_account.sid

    @property
    def auth_token(self) -> str:
        return self.default_account.auth_token

    def add_account(self, account: SandboxAccount) -> SandboxAccount:
        self.accounts[account.sid] = account
        return account

    # -- records ------------------------------------------------------------------------------

    def record(self, account: SandboxAccount, message: SandboxMessage) -> None:
        """Keep a newly created message and start moving it through its statuses."""
        self.messages.append(message)
        self._by_sid[message.sid] = message
        self._by_account.setdefault(account.sid, []).append(message)
        if message.steps:
            self._progression.start(account, message)

    def message(self, sid: str) -> SandboxMessage | None:
        return self._by_sid.get(sid)

    def messages_of(self, account_sid: str) -> list[SandboxMessage]:
        """One account's messages, oldest first."""
        return self._by_account.get(account_sid, [])

    def sent_to(self, to: str) -> list[SandboxMessage]:
        """Outbound messages created for ``to``: count them to find duplicate sends."""
        return [m for m in self.messages if m.to == to and m.direction == "outbound-api"]

    def clear(self) -> None:
        """Forget every message, callback and attempt (accounts and faults stay)."""
        self.messages.clear()
        self.callbacks.clear()
        self._by_sid.clear()
        self._by_account.clear()
        self.create_attempts = 0

    async def settle(self) -> None:
        """Wait until every message created so far has reached its last status."""
        await self._progression.settle()

    # -- inbound ------------------------------------------------------------------------------

    async def simulate_inbound(
        self, from_: str, to: str, body: str = "", media_urls: Iterable[str] = ()
    ) -> SandboxMessage:
        """Someone writes to ``to`` (one of an account's numbers): record it and post its webhook.

        The webhook goes to the number's SmsUrl (or its Messaging Service's
        inbound URL), signed with the owning account's token; the returned
        message's ``callbacks`` holds that delivery (empty when no URL is set).

        :raises TwilioApiError: 404 when no account owns ``to``.
        """
        owner = next((a for a in self.accounts.values() if a.number(to)), None)
        number = owner.number(to) if owner else None
        if owner is None or number is None:
            raise TwilioApiError(404, 20404, f"No account of this sandbox owns {to}")
        target = receive(owner, number, from_=from_, to=to, body=body, media_urls=tuple(media_urls))
        self.record(owner, target.message)
        if target.url:
            delivery = CallbackDelivery(
                kind="inbound",
                url=target.url,
                params=target.params,
                headers=signed_headers(owner.auth_token, target.url, target.params),
                message_sid=target.message.sid,
            )
            target.message.callbacks.append(delivery)
            self.callbacks.append(delivery)
            await self._poster.post(delivery)
        return target.message
