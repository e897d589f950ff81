"""WhatsApp's 24-hour window and Content templates, through the official SDK against the sandbox.

The sandbox models the window as Twilio documents it: a free-form message to
someone who has not written in the last 24 hours is accepted, then ``failed``
with 63016 in its status callback; an approved Content template (``ContentSid``
plus ``ContentVariables``) is delivered anyway; an unknown Content SID is 21655.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relaykit import (
    AmbiguousSendError,
    Channel,
    MessageStatus,
    OutboundMessage,
    PermanentSendError,
    ProviderTemplate,
    StatusUpdate,
)
from relaykit_twilio import TwilioConnector
from relaykit_twilio_sandbox import DEFAULT_SMS_NUMBER, ContentTemplate, TwilioSandbox
from tests.twilio.connector_fixtures import CallbackServer
from tests.twilio.sandbox_fixtures import basic_auth

PARENT = "+14155552671"
ABSENCE_SID = "HX" + "0123456789abcdef" * 2


def whatsapp(body: str = "Sam was absent today.", **kw: object) -> OutboundMessage:
    return OutboundMessage(Channel.WHATSAPP, f"whatsapp:{PARENT}", body, **kw)  # type: ignore[arg-type]


@pytest.fixture
def windowed(twilio_sandbox: TwilioSandbox) -> TwilioSandbox:
    """The sandbox with the window modelled and one approved template, ``{{1}} … {{2}}``."""
    account = twilio_sandbox.default_account
    account.whatsapp_session_window = True
    account.add_content(
        ContentTemplate(sid=ABSENCE_SID, body="{{1}} was marked absent on {{2}}. Reply to talk.")
    )
    return twilio_sandbox


@pytest.fixture
def connector(
    sandbox_connector: TwilioConnector, windowed: TwilioSandbox, callback_server: CallbackServer
) -> TwilioConnector:
    return sandbox_connector


def failures(server: CallbackServer) -> list[StatusUpdate]:
    return [
        e
        for o in server.outcomes("status")
        for e in o.events
        if isinstance(e, StatusUpdate) and e.status is MessageStatus.FAILED
    ]


async def test_inside_the_window_a_free_form_message_is_delivered(
    connector: TwilioConnector, windowed: TwilioSandbox
) -> None:
    await windowed.simulate_inbound(f"whatsapp:{PARENT}", f"whatsapp:{DEFAULT_SMS_NUMBER}", "Hi")

    await connector.send(whatsapp())
    await windowed.settle()

    (sent,) = windowed.sent_to(f"whatsapp:{PARENT}")
    assert (sent.status, sent.error_code, sent.content_sid) == ("delivered", None, None)


async def test_outside_the_window_it_is_accepted_then_fails_with_63016(
    connector: TwilioConnector, windowed: TwilioSandbox, callback_server: CallbackServer
) -> None:
    receipt = await connector.send(whatsapp(reference="msg-7"))
    await windowed.settle()

    assert receipt.status is MessageStatus.QUEUED
    (sent,) = windowed.sent_to(f"whatsapp:{PARENT}")
    assert (sent.status, sent.error_code) == ("failed", 63016)
    await callback_server.wait_for(1)
    (update,) = failures(callback_server)
    assert (update.error_code, update.reference) == ("63016", "msg-7")


async def test_a_window_opened_more_than_24_hours_ago_is_closed(
    connector: TwilioConnector, windowed: TwilioSandbox
) -> None:
    windowed.default_account.sessions.open(
        DEFAULT_SMS_NUMBER, PARENT, datetime.now(UTC) - timedelta(hours=24, minutes=1)
    )

    await connector.send(whatsapp())
    await windowed.settle()

    assert [m.error_code for m in windowed.sent_to(f"whatsapp:{PARENT}")] == [63016]


async def test_an_approved_template_is_delivered_outside_the_window(
    connector: TwilioConnector, windowed: TwilioSandbox
) -> None:
    template = ProviderTemplate(ABSENCE_SID, {"1": "Sam Lee", "2": "4 Dec"})

    receipt = await connector.send(whatsapp(template=template))
    await windowed.settle()

    (sent,) = windowed.sent_to(f"whatsapp:{PARENT}")
    assert receipt.provider_message_id == sent.sid
    assert (sent.status, sent.content_sid) == ("delivered", ABSENCE_SID)
    assert sent.body == "Sam Lee was marked absent on 4 Dec. Reply to talk."


async def test_a_template_not_approved_for_whatsapp_counts_as_free_form(
    connector: TwilioConnector, windowed: TwilioSandbox
) -> None:
    draft = windowed.default_account.add_content(
        ContentTemplate(body="Draft {{1}}", whatsapp_approved=False)
    )

    await connector.send(whatsapp(template=ProviderTemplate(draft.sid, {"1": "x"})))
    await windowed.settle()

    assert [m.error_code for m in windowed.sent_to(f"whatsapp:{PARENT}")] == [63016]


async def test_an_unknown_content_sid_is_refused_with_21655(
    connector: TwilioConnector, windowed: TwilioSandbox
) -> None:
    unknown = ProviderTemplate("HX" + "f" * 32, {"1": "Sam"})

    with pytest.raises(PermanentSendError) as raised:
        await connector.send(whatsapp(template=unknown))

    assert raised.value.provider_code == "21655"
    assert windowed.sent_to(f"whatsapp:{PARENT}") == []


async def test_a_template_id_that_is_no_content_sid_is_refused_before_any_call(
    connector: TwilioConnector, windowed: TwilioSandbox
) -> None:
    with pytest.raises(PermanentSendError, match="not a Twilio Content SID"):
        await connector.send(whatsapp(template=ProviderTemplate("absence_v2")))

    assert windowed.create_attempts == 0


async def test_content_variables_travel_as_a_json_object_of_text(
    connector: TwilioConnector, windowed: TwilioSandbox
) -> None:
    variables = {"2": "4 Dec", "1": 'Zoë "Jo" Ng'}

    await connector.send(whatsapp(template=ProviderTemplate(ABSENCE_SID, variables)))

    (sent,) = windowed.sent_to(f"whatsapp:{PARENT}")
    assert sent.body == 'Zoë "Jo" Ng was marked absent on 4 Dec. Reply to talk.'


async def test_the_control_api_seeds_templates_switches_the_window_and_opens_it(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox
) -> None:
    send = functools.partial(connect(whatsapp_sender=DEFAULT_SMS_NUMBER).send)
    base = f"{twilio_sandbox.url}/_sandbox"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/options", json={"whatsapp_session_window": True}) as r:
            assert (r.status, await r.json()) == (200, {"whatsapp_session_window": True})
        async with http.post(f"{base}/content", json={"body": "Hello {{1}}"}) as r:
            assert r.status == 201
            sid = (await r.json())["sid"]
        async with http.post(f"{base}/options", json={"whatsapp_window": True}) as r:
            assert r.status == 400 and "whatsapp_session_window" in (await r.json())["error"]

        await send(whatsapp(template=ProviderTemplate(sid, {"1": "Sam"})))
        await send(whatsapp())
        inbound = {"From": f"whatsapp:{PARENT}", "To": f"whatsapp:{DEFAULT_SMS_NUMBER}"}
        async with http.post(f"{base}/inbound", data={**inbound, "Body": "ok"}) as r:
            assert r.status == 200
        await send(whatsapp())
        await twilio_sandbox.settle()
        async with http.get(f"{base}/messages", params={"to": f"whatsapp:{PARENT}"}) as r:
            rows = (await r.json())["messages"]

    assert [(m["body"], m["status"], m["error_code"]) for m in rows] == [
        ("Hello Sam", "delivered", None),
        ("Sam was absent today.", "failed", 63016),
        ("Sam was absent today.", "delivered", None),
    ]
    assert rows[0]["content_sid"] == sid


async def test_without_the_window_modelled_free_form_whatsapp_is_delivered(
    connect: Callable[..., TwilioConnector], twilio_sandbox: TwilioSandbox
) -> None:
    await connect(whatsapp_sender=DEFAULT_SMS_NUMBER).send(whatsapp())
    await twilio_sandbox.settle()

    assert [m.status for m in twilio_sandbox.sent_to(f"whatsapp:{PARENT}")] == ["delivered"]


async def test_the_docs_sandbox_snippet_runs_and_seeds_an_approved_template() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "whatsapp.md").read_text("utf-8")
    snippet = docs.split("```python\n")[-1].split("```", 1)[0]
    body = "".join(f"    {line}\n" for line in snippet.splitlines())
    namespace: dict[str, Any] = {}
    exec(f"async def run():\n{body}    return sb\n", namespace)

    sandbox: TwilioSandbox = await namespace["run"]()

    assert sandbox.default_account.whatsapp_session_window
    (template,) = sandbox.default_account.content_templates
    assert template.render({"1": "Sam", "2": "Monday"}) == "Sam was absent on Monday."


@pytest.mark.parametrize("variables", ["not json", '["Sam"]', '{"1": 7}'])
async def test_content_variables_that_are_no_json_object_of_text_are_refused_with_21656(
    windowed: TwilioSandbox, variables: str
) -> None:
    url = f"{windowed.url}/2010-04-01/Accounts/{windowed.account_sid}/Messages.json"
    form = {
        "To": f"whatsapp:{PARENT}",
        "From": f"whatsapp:{DEFAULT_SMS_NUMBER}",
        "ContentSid": ABSENCE_SID,
        "ContentVariables": variables,
    }
    headers = basic_auth(windowed.account_sid, windowed.auth_token)
    async with aiohttp.ClientSession() as http, http.post(url, data=form, headers=headers) as r:
        assert (r.status, (await r.json())["code"]) == (400, 21656)
    assert windowed.messages == []


async def test_a_lost_template_send_is_found_not_taken_for_the_failed_session_message(
    connector: TwilioConnector, windowed: TwilioSandbox
) -> None:
    """Crash recovery of the template step: Twilio stores the template's text, not the
    session text relaykit keeps as the message's body, and the session message that failed
    with 63016 moments earlier has exactly that session text."""
    session = whatsapp()
    await connector.send(session)  # outside the window: accepted, then failed with 63016
    await windowed.settle()
    started = datetime.now(UTC)
    template = ProviderTemplate(ABSENCE_SID, {"1": "Sam Lee", "2": "4 Dec"})
    windowed.faults.update(drop_after_create=1)
    with pytest.raises(AmbiguousSendError):
        await connector.send(whatsapp(template=template))

    found = await connector.find_sent(
        session.to,
        "r",
        started - timedelta(seconds=5),  # as the host's recovery asks
        body=session.body,
        channel=Channel.WHATSAPP,
        template=template,
    )

    failed, created = windowed.sent_to(f"whatsapp:{PARENT}")
    assert failed.content_sid is None and created.content_sid == ABSENCE_SID
    assert found is not None and found.provider_message_id == created.sid
