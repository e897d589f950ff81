"""PITFALLS 13 / CVE-2024-6923: no header-bound field can inject a header, and nothing is sent.

Python 3.11.7's ``email`` package writes ``Hi=?UTF-8?Q?=0A?=Bcc: evil@x.com``
as a subject followed by a real ``Bcc:`` header, and accepts a trailing ``\\n``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from relaykit import Channel, ConfigError, OutboundMessage, PermanentSendError
from relaykit_email._compose import check_headers_intact
from relaykit_email._fields import FieldValueError
from tests.email.conftest import Relay

CVE_PAYLOAD = "Hi=?UTF-8?Q?=0A?=Bcc: evil@x.com"
PAYLOADS = {
    "cve-2024-6923": CVE_PAYLOAD,
    "trailing-lf": "Report card\n",
    "crlf-bcc": "Hi\r\nBcc: evil@x.com",
    "bare-cr": "Hi\rBcc: evil@x.com",
    "u2028": "Hi\u2028Bcc: evil@x.com",
    "nel-u0085": "Hi\x85Bcc: evil@x.com",
    "base64-word": "=?UTF-8?B?SGkKQmNjOiBldmlsQHguY29t?=",  # "Hi\nBcc: evil@x.com"
    "nested-word": "=?UTF-8?Q?=3D=3FUTF-8=3FQ=3F=3D0A=3F=3DBcc:_evil@x.com?=",
    "nul": "Hi\x00there",
}
BASE = OutboundMessage(
    channel=Channel.EMAIL,
    to="parent@example.org",
    body="Hello",
    subject="Hello",
    reference="msg-1",
)
#: message field -> how a payload is placed in it (addresses carry it in the local part)
MESSAGE_FIELDS = {
    "subject": lambda p: p,
    "reference": lambda p: p,
    "to": lambda p: f"{p}@example.org",
    "reply_to": lambda p: f"{p}@example.org",
    "sender": lambda p: f"{p}@example.org",
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("field", MESSAGE_FIELDS)
async def test_message_field_with_a_line_break_is_refused_and_never_sent(
    relay: Relay, field: str, payload: str
) -> None:
    message = replace(BASE, **{field: MESSAGE_FIELDS[field](payload)})

    with pytest.raises(PermanentSendError) as raised:
        await relay.connector().send(message)

    assert f"refused to send: {field} " in str(raised.value)
    assert relay.sink.received == []


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("setting", ["from_name", "default_subject", "reply_to", "from_address"])
def test_instance_setting_with_a_line_break_is_a_config_error(
    relay: Relay, setting: str, payload: str
) -> None:
    value = payload if setting in ("from_name", "default_subject") else f"{payload}@example.org"

    with pytest.raises(ConfigError) as raised:
        relay.connector(**{setting: value})

    assert raised.value.location == f"tenants.north-high.instances.email.settings.{setting}"
    assert "U+" in str(raised.value) or "not a valid email address" in str(raised.value)


async def test_the_exact_cve_subject_names_the_encoded_line_break(relay: Relay) -> None:
    with pytest.raises(PermanentSendError, match=r"U\+000A\) inside an RFC 2047 encoded word"):
        await relay.connector().send(replace(BASE, subject=CVE_PAYLOAD))


async def test_harmless_subjects_still_go_through(relay: Relay) -> None:
    """The checks do not over-block: tabs, emoji, and an encoded word with no line break."""
    connector = relay.connector()
    subjects: dict[str, Any] = {
        "Field\ttrip 🚌": "Field\ttrip 🚌",
        "Prix =?utf-8?q?caf=C3=A9?= offert": "Prix café offert",
    }
    for subject, shown in subjects.items():
        await connector.send(replace(BASE, subject=subject))
        received = relay.sink.received[-1].content
        from email import message_from_bytes
        from email.policy import default

        assert message_from_bytes(received, policy=default)["Subject"] == shown
        assert b"Bcc" not in received


def test_serialised_header_guard_catches_an_injected_header() -> None:
    """Second line of defence: what CVE-2024-6923 makes the stdlib write is refused."""
    injected = (
        b"Subject: Hi\nBcc: evil@x.com\r\nFrom: a@example.com\r\nMIME-Version: 1.0\r\n\r\nhi\r\n"
    )
    extra_header = b"Subject: Hi\r\nBcc: evil@x.com\r\nFrom: a@example.com\r\n\r\nhi\r\n"
    clean = b"Subject: Hi\r\n =?utf-8?q?folded?=\r\nFrom: a@example.com\r\n\r\nhi\r\n"

    with pytest.raises(FieldValueError, match="bare CR or LF"):
        check_headers_intact(injected, ["Subject", "From", "MIME-Version"])
    with pytest.raises(FieldValueError, match="headers that were not set"):
        check_headers_intact(extra_header, ["Subject", "From"])
    check_headers_intact(clean, ["Subject", "From"])  # folded continuation lines are fine
