"""What a relay actually receives from ``send``: headers, encodings, MIME structure, envelope."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime

from relaykit import Channel, MessageStatus, OutboundMessage
from tests.email.conftest import FROM_ADDRESS, Relay

SUBJECT = "Attendance: Zoë was absent today 🏫"
BODY = "Bonjour ! Zoë était absente aujourd'hui.\nMerci de répondre 👍\n"
HTML = "<p>Bonjour&nbsp;! <b>Zoë</b> était absente 👍</p>\n"


def email(**fields: object) -> OutboundMessage:
    values: dict[str, object] = {
        "channel": Channel.EMAIL,
        "to": "parent@example.org",
        "body": BODY,
        "subject": SUBJECT,
        "reference": "msg-000123",
    }
    values.update(fields)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def text(part: EmailMessage) -> str:
    """A text part's content; MIME text is canonically CRLF, readers show plain lines."""
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def received(relay: Relay, index: int = -1) -> EmailMessage:
    message = message_from_bytes(relay.sink.received[index].content, policy=default)
    assert isinstance(message, EmailMessage)
    return message


async def test_plain_message_arrives_with_correct_headers_and_utf8_text(relay: Relay) -> None:
    connector = relay.connector(reply_to="office@north-high.example.com")
    receipt = await connector.send(email())

    assert receipt.status is MessageStatus.SENT
    assert receipt.channel == Channel.EMAIL
    assert receipt.to == "parent@example.org"
    msg = received(relay)
    assert msg["Message-ID"] == receipt.provider_message_id
    assert receipt.provider_message_id.startswith("<")
    assert receipt.provider_message_id.endswith("@north-high.example.com>")
    assert msg["Subject"] == SUBJECT
    assert msg["From"].addresses[0].display_name == "North High School"
    assert msg["From"].addresses[0].addr_spec == FROM_ADDRESS
    assert msg["To"] == "parent@example.org"
    assert msg["Reply-To"] == "office@north-high.example.com"
    assert msg["X-Relaykit-Reference"] == "msg-000123"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert text(msg) == BODY


async def test_wire_form_is_seven_bit_with_encoded_words(relay: Relay) -> None:
    """Any relay takes it, 8BITMIME or not: non-ASCII only inside RFC 2047 / QP / base64."""
    await relay.connector(from_name="École Nord").send(email())

    raw = relay.sink.received[-1].content
    assert raw.isascii()
    headers = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert "=?utf-8?" in headers
    assert received(relay)["From"].addresses[0].display_name == "École Nord"


async def test_html_alternative_is_multipart_alternative_text_first(relay: Relay) -> None:
    await relay.connector().send(email(html_body=HTML))

    msg = received(relay)
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p for p in msg.iter_parts() if isinstance(p, EmailMessage)]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert text(parts[0]) == BODY
    assert text(parts[1]) == HTML
    assert all("MIME-Version" not in p for p in parts)
    assert msg["MIME-Version"] == "1.0"


async def test_envelope_uses_return_path_and_normalised_recipient(relay: Relay) -> None:
    connector = relay.connector(return_path="bounces@north-high.example.com")
    receipt = await connector.send(email(to="  Parent@Bücher.example "))

    mail = relay.sink.received[-1]
    assert mail.mail_from == "bounces@north-high.example.com"
    assert mail.rcpt_tos == ("Parent@xn--bcher-kva.example",)
    assert receipt.to == "Parent@xn--bcher-kva.example"
    assert received(relay)["From"].addresses[0].addr_spec == FROM_ADDRESS


async def test_message_sender_and_reply_to_override_the_instance(relay: Relay) -> None:
    await relay.connector(reply_to="office@north-high.example.com").send(
        email(sender="ms.jones@north-high.example.com", reply_to="jones@north-high.example.com")
    )

    msg = received(relay)
    assert msg["From"].addresses[0].addr_spec == "ms.jones@north-high.example.com"
    assert msg["Reply-To"] == "jones@north-high.example.com"
    assert relay.sink.received[-1].mail_from == "ms.jones@north-high.example.com"
    assert msg["Message-ID"].endswith("@north-high.example.com>")


async def test_message_without_subject_gets_the_default_subject(relay: Relay) -> None:
    await relay.connector().send(email(subject=None))
    await relay.connector(default_subject="Message from North High").send(email(subject=""))

    assert received(relay, 0)["Subject"] == "New message"
    assert received(relay, 1)["Subject"] == "Message from North High"


async def test_lines_that_look_like_smtp_terminators_arrive_intact(relay: Relay) -> None:
    body = "first\n.\nFrom here on\n..\nlast line\n"
    await relay.connector().send(email(body=body))

    assert text(received(relay)) == body


async def test_each_send_gets_its_own_message_id(relay: Relay) -> None:
    connector = relay.connector()
    ids = {(await connector.send(email())).provider_message_id for _ in range(5)}

    assert len(ids) == 5
    assert ids == {str(received(relay, i)["Message-ID"]) for i in range(5)}


async def test_relay_without_login_is_used_without_credentials(start_relay) -> None:  # type: ignore[no-untyped-def]
    relay = await start_relay("none", login=False)
    receipt = await relay.connector().send(email())

    assert received(relay)["Message-ID"] == receipt.provider_message_id
