"""The outbox connector: a pager provider whose "network" is a JSON-lines file.

Each message becomes one line of ``{directory}/outbox.jsonl``. Besides SMS and
email it serves ``pager``, a channel relaykit does not ship, addressed by a
``pager_id`` (``PG-`` and six digits) that this connector validates itself in
:meth:`OutboxConnector.normalize_address`. Receipts (status callbacks) are
signed like many webhook providers sign them: an HMAC-SHA256 over the
timestamp, a dot and the body; one whose timestamp is outside the window is
refused, so a captured receipt cannot be replayed later.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from pathlib import Path

from relaykit.contract import (
    AddressKind,
    CallbackOutcome,
    CallbackParseError,
    CallbackRequest,
    CallbackVerificationError,
    Channel,
    ConnectionState,
    ConnectionStatus,
    ConnectorSpec,
    FieldSpec,
    InstanceConfig,
    InvalidAddressError,
    MessageStatus,
    OutboundMessage,
    PermanentSendError,
    SendReceipt,
    StatusUpdate,
    TransientSendError,
    load_spec_resource,
)

SIGNATURE_HEADER = "x-outbox-signature"
TIMESTAMP_HEADER = "x-outbox-timestamp"
#: The channel this connector brings, and the address kind its messages go to.
PAGER = Channel("pager")
PAGER_ID = AddressKind("pager_id")
_PAGER_ID = re.compile(r"PG-[0-9]{6}")
#: The pager network's receipt statuses; anything else is one of relaykit's own.
_PAGER_STATUSES = {
    "acknowledged": MessageStatus.READ,
    "expired": MessageStatus.UNDELIVERED,
    "rejected": MessageStatus.FAILED,
}


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature the outbox network puts in ``X-Outbox-Signature``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class OutboxConnector:
    """Writes messages to a file; accepts HMAC-signed, timestamped receipts."""

    name = "outbox"
    contract_version = "1.0"

    def __init__(self, config: InstanceConfig) -> None:
        self.config = config
        self._path = Path(config.settings["directory"]) / "outbox.jsonl"
        self._window = float(config.settings.get("receipt_window_seconds", 300))
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"OutboxConnector({self.config.label!r})"

    @classmethod
    def spec(cls) -> ConnectorSpec:
        return load_spec_resource(__package__)

    @classmethod
    def describe_fields(cls) -> list[FieldSpec]:
        return cls.spec().fields()

    @classmethod
    def normalize_address(cls, kind: AddressKind, raw: str) -> str:
        """A pager id as the network wants it: ``PG-`` and six digits (``pg-012345`` is
        accepted and upper-cased)."""
        if kind != PAGER_ID:
            raise InvalidAddressError(f"outbox normalises only {PAGER_ID} addresses, not {kind}")
        pager_id = raw.strip().upper()
        if not _PAGER_ID.fullmatch(pager_id):
            raise InvalidAddressError(f"{raw!r} is not a pager id: write PG- and six digits")
        return pager_id

    async def authenticate(self) -> ConnectionStatus:
        directory = self._path.parent
        if not directory.is_dir():
            return ConnectionStatus(
                ConnectionState.MISCONFIGURED,
                f"directory {str(directory)!r} does not exist; create it",
            )
        return ConnectionStatus(ConnectionState.CONNECTED)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if message.channel not in self.spec().channels:
            raise PermanentSendError(
                f"sends only {', '.join(self.spec().channels)}, not {message.channel}",
                connector=self.name,
            )
        if not message.to:
            raise PermanentSendError("the message has no recipient", connector=self.name)
        if message.channel == PAGER and not _PAGER_ID.fullmatch(message.to):
            raise PermanentSendError(
                f"{message.to!r} is not a pager id; the pager network refuses it",
                connector=self.name,
            )
        message_id = f"OB{uuid.uuid4().hex}"
        line = {"id": message_id, "channel": message.channel.value, "to": message.to}
        text = json.dumps({**line, "body": message.body}) + "\n"
        try:
            async with self._lock:
                await asyncio.to_thread(self._append, text)
        except OSError as exc:
            raise TransientSendError(
                f"cannot write {self._path}: {exc.strerror}", connector=self.name
            ) from None
        return SendReceipt(message_id, MessageStatus.SENT, message.channel, message.to)

    def _append(self, line: str) -> None:
        with self._path.open("a", encoding="utf-8") as outbox:
            outbox.write(line)

    async def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        secret = self.config.settings["signing_secret"].get_secret_value()
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        expected = sign(secret, timestamp, request.body)
        if not hmac.compare_digest(expected, request.headers.get(SIGNATURE_HEADER, "")):
            raise CallbackVerificationError(
                "outbox: bad or missing X-Outbox-Signature (HMAC-SHA256 of timestamp.body)"
            )
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self._window:
            raise CallbackVerificationError(
                f"outbox: stale receipt: X-Outbox-Timestamp {timestamp!r} is more than "
                f"{self._window:g} s from now"
            )
        try:
            data = json.loads(request.body)
            status = data["status"]
            update = StatusUpdate(
                data["id"],
                _PAGER_STATUSES.get(status) or MessageStatus(status),
                error_code=data.get("error_code"),
                error_message=status if status in _PAGER_STATUSES else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackParseError(f"outbox: malformed status callback: {exc}") from None
        return CallbackOutcome(events=(update,))

    async def aclose(self) -> None:
        return None
