"""The outbox connector: each message becomes one JSON line in ``{directory}/outbox.jsonl``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from pathlib import Path

from relaykit.contract import (
    CallbackOutcome,
    CallbackParseError,
    CallbackRequest,
    CallbackVerificationError,
    ConnectionState,
    ConnectionStatus,
    ConnectorSpec,
    FieldSpec,
    InstanceConfig,
    MessageStatus,
    OutboundMessage,
    PermanentSendError,
    SendReceipt,
    StatusUpdate,
    TransientSendError,
    load_spec_resource,
)

SIGNATURE_HEADER = "x-outbox-signature"


class OutboxConnector:
    """Writes messages to a file; accepts HMAC-signed status callbacks."""

    name = "outbox"
    contract_version = "1.0"

    def __init__(self, config: InstanceConfig) -> None:
        self.config = config
        self._path = Path(config.settings["directory"]) / "outbox.jsonl"
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"OutboxConnector({self.config.label!r})"

    @classmethod
    def spec(cls) -> ConnectorSpec:
        return load_spec_resource(__package__)

    @classmethod
    def describe_fields(cls) -> list[FieldSpec]:
        return cls.spec().fields()

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
        message_id = f"OB{uuid.uuid4().hex}"
        line = json.dumps({"id": message_id, "to": message.to, "body": message.body}) + "\n"
        try:
            async with self._lock:
                await asyncio.to_thread(self._append, line)
        except OSError as exc:
            raise TransientSendError(
                f"cannot write {self._path}: {exc.strerror}", connector=self.name
            ) from None
        return SendReceipt(message_id, MessageStatus.SENT, message.channel, message.to)

    def _append(self, line: str) -> None:
        with self._path.open("a", encoding="utf-8") as outbox:
            outbox.write(line)

    async def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        secret = self.config.settings["signing_secret"].get_secret_value().encode()
        expected = hmac.new(secret, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get(SIGNATURE_HEADER, "")):
            raise CallbackVerificationError("outbox: bad or missing X-Outbox-Signature")
        try:
            data = json.loads(request.body)
            update = StatusUpdate(data["id"], MessageStatus(data["status"]))
        except (ValueError, KeyError) as exc:
            raise CallbackParseError(f"outbox: malformed status callback: {exc}") from None
        return CallbackOutcome(events=(update,))

    async def aclose(self) -> None:
        return None
