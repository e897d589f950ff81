"""An SMTP sink whose answers to MAIL, RCPT and DATA a test scripts: a reply, a drop, or silence."""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP, Envelope, Session

from relaykit_email.sandbox import ReceivedMail, SmtpSink

DROP = "drop"  # close the connection without answering
HANG = "hang"  # never answer


class ScriptedSink(SmtpSink):
    """Answers ``mail``/``rcpt``/``data`` as scripted; unscripted steps behave normally.

    :ivar seen_data: message bytes that reached the server, even when it then
        refused or dropped them (what makes a DATA-phase drop ambiguous).
    """

    def __init__(
        self, *, mail: str | None = None, rcpt: str | None = None, data: str | None = None
    ) -> None:
        super().__init__()
        self.script = {"MAIL": mail, "RCPT": rcpt, "DATA": data}
        self.seen_data: list[bytes] = []

    async def _scripted(self, step: str, server: SMTP) -> str | None:
        action = self.script[step]
        if action == DROP:
            assert server.transport is not None
            server.transport.close()
            await asyncio.Event().wait()  # cancelled when aiosmtpd sees the connection lost
        if action == HANG:
            await asyncio.Event().wait()  # cancelled when the test's server stops
        return action

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = await self._scripted("MAIL", server)
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = await self._scripted("RCPT", server)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.seen_data.append(envelope.original_content or b"")
        reply = await self._scripted("DATA", server)
        if reply is not None:
            return reply
        return await super().handle_DATA(server, session, envelope)


__all__ = ["DROP", "HANG", "ReceivedMail", "ScriptedSink"]
