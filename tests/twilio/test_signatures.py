"""Webhook signatures: PITFALLS 6 (missing header), 7 (URL pinning), forgeries and replays.

Each valid request here is signed twice, by the SDK's ``RequestValidator`` and
by :func:`documented_signature` (HMAC-SHA1 written from Twilio's documented
algorithm), and both must agree, so the connector is not just checked against
the code it uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from relaykit import (
    CallbackParseError,
    CallbackRequest,
    CallbackVerificationError,
    InstanceConfig,
    StatusUpdate,
)
from relaykit_twilio import TwilioConnector
from relaykit_twilio.signatures import signs_body
from tests.twilio.connector_fixtures import AUTH_TOKEN, PUBLIC_BASE, documented_signature

STATUS_URL = f"{PUBLIC_BASE}/webhooks/north-high/sms/status?rk_ref=msg-42"
PARAMS = {
    "MessageSid": "SM" + "a" * 32,
    "MessageStatus": "delivered",
    "AccountSid": "AC" + "0123456789abcdef" * 2,
    "From": "+15005550006",
    "To": "+14155552671",
}


def signed(url: str, params: dict[str, str], *, token: str = AUTH_TOKEN) -> str:
    sdk = RequestValidator(token).compute_signature(url, params)
    assert sdk == documented_signature(token, url, params)
    return sdk


def callback(
    url: str = STATUS_URL,
    params: dict[str, str] | None = None,
    *,
    signature: str | None = "sign",
    sign_url: str | None = None,
    kind: str = "status",
    extra_headers: dict[str, str] | None = None,
) -> CallbackRequest:
    params = dict(PARAMS if params is None else params)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        signature = signed(sign_url or url, params)
    if signature is not None:
        headers["x-twilio-signature"] = signature
    headers.update(extra_headers or {})
    return CallbackRequest(
        kind=kind, url=url, method="POST", headers=headers, body=urlencode(params).encode()
    )


@pytest.fixture
def connector(
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
) -> TwilioConnector:
    return make_twilio_connector(twilio_config())


async def test_a_request_signed_by_twilios_algorithm_is_accepted(
    connector: TwilioConnector,
) -> None:
    outcome = await connector.handle_callback(callback())
    (event,) = outcome.events
    assert isinstance(event, StatusUpdate) and event.reference == "msg-42"


@pytest.mark.parametrize("signature", [None, "", "   "])
async def test_pitfall_6_missing_or_empty_signature_is_refused_not_a_type_error(
    connector: TwilioConnector, signature: str | None
) -> None:
    with pytest.raises(TypeError):  # the SDK's own trap, which the connector guards
        RequestValidator(AUTH_TOKEN).validate(STATUS_URL, PARAMS, None)
    with pytest.raises(CallbackVerificationError, match="no X-Twilio-Signature"):
        await connector.handle_callback(callback(signature=signature))


async def test_pitfall_6_non_ascii_signature_is_refused(connector: TwilioConnector) -> None:
    with pytest.raises(CallbackVerificationError, match="not ASCII"):
        await connector.handle_callback(callback(signature="é" * 28))


async def test_pitfall_6_non_utf8_body_is_refused(connector: TwilioConnector) -> None:
    request = callback()
    broken = CallbackRequest(
        kind="status", url=request.url, method="POST", headers=request.headers, body=b"\xff\xfe"
    )
    with pytest.raises(CallbackVerificationError):
        await connector.handle_callback(broken)


async def test_a_forged_signature_is_refused(connector: TwilioConnector) -> None:
    forged = signed(STATUS_URL, PARAMS, token="not-the-auth-token")
    with pytest.raises(CallbackVerificationError, match="does not match"):
        await connector.handle_callback(callback(signature=forged))


async def test_a_tampered_parameter_is_refused(connector: TwilioConnector) -> None:
    request = callback()
    tampered = dict(PARAMS, MessageStatus="failed")
    with pytest.raises(CallbackVerificationError):
        await connector.handle_callback(
            callback(params=tampered, signature=request.headers["x-twilio-signature"])
        )


async def test_an_added_parameter_is_refused(connector: TwilioConnector) -> None:
    request = callback()
    with pytest.raises(CallbackVerificationError):
        await connector.handle_callback(
            callback(
                params=dict(PARAMS, ErrorCode="30003"),
                signature=request.headers["x-twilio-signature"],
            )
        )


async def test_a_request_replayed_to_another_url_is_refused(connector: TwilioConnector) -> None:
    # Captured at the status webhook, replayed to another reference and to the inbound route.
    signature = callback().headers["x-twilio-signature"]
    other_ref = STATUS_URL.replace("msg-42", "msg-43")
    inbound = f"{PUBLIC_BASE}/webhooks/north-high/sms/inbound"
    other_instance = STATUS_URL.replace("/sms/", "/whatsapp/")
    for url, kind in ((other_ref, "status"), (inbound, "inbound"), (other_instance, "status")):
        with pytest.raises(CallbackVerificationError):
            await connector.handle_callback(callback(url, signature=signature, kind=kind))


@pytest.mark.parametrize(
    "signed_as",
    [
        STATUS_URL.replace("https://", "http://"),  # TLS terminated in front of us
        STATUS_URL.replace("relay.example.org", "Relay.Example.org"),  # host case
        STATUS_URL.replace("?rk_ref=msg-42", "?rk_ref=msg-42&b=2&a=1"),
        STATUS_URL.replace("relay.example.org", "internal-lb.local:8080"),  # the Host header
    ],
)
async def test_pitfall_7_only_the_exact_public_url_verifies(
    connector: TwilioConnector, signed_as: str
) -> None:
    with pytest.raises(CallbackVerificationError):
        await connector.handle_callback(callback(STATUS_URL, sign_url=signed_as))


async def test_pitfall_7_a_reordered_query_string_fails() -> None:
    url = f"{PUBLIC_BASE}/webhooks/north-high/sms/status?a=1&b=2"
    reordered = f"{PUBLIC_BASE}/webhooks/north-high/sms/status?b=2&a=1"
    validator = RequestValidator(AUTH_TOKEN)
    assert validator.validate(url, PARAMS, signed(url, PARAMS))
    assert not validator.validate(reordered, PARAMS, signed(url, PARAMS))


async def test_pitfall_7_the_default_port_quirk_is_accepted_both_ways(
    connector: TwilioConnector,
) -> None:
    with_port = STATUS_URL.replace("relay.example.org", "relay.example.org:443")
    await connector.handle_callback(callback(STATUS_URL, sign_url=with_port))
    # and a non-default port is part of the URL: signing without it fails
    with pytest.raises(CallbackVerificationError):
        await connector.handle_callback(
            callback(STATUS_URL, sign_url=STATUS_URL.replace(".org/", ".org:8443/"))
        )


async def test_public_base_url_setting_pins_the_signed_url(
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
) -> None:
    # The host builds request.url from its own base; Twilio calls the instance's override.
    connector = make_twilio_connector(twilio_config(public_base_url="https://tw.example.net"))
    host_url = STATUS_URL
    twilio_called = "https://tw.example.net/webhooks/north-high/sms/status?rk_ref=msg-42"
    await connector.handle_callback(callback(host_url, sign_url=twilio_called))
    with pytest.raises(CallbackVerificationError):
        await connector.handle_callback(callback(host_url, sign_url=host_url))


async def test_a_shared_key_signature_is_refused_with_the_reason(
    connector: TwilioConnector,
) -> None:
    request = callback(
        extra_headers={"x-twilio-webhooks-signature-settings": "key=k1,algorithm=HMAC_SHA256"}
    )
    with pytest.raises(CallbackVerificationError, match="SharedKey"):
        await connector.handle_callback(request)


async def test_refusals_never_echo_the_auth_token(connector: TwilioConnector) -> None:
    for request in (callback(signature=None), callback(signature="x" * 28)):
        with pytest.raises(CallbackVerificationError) as error:
            await connector.handle_callback(request)
        assert AUTH_TOKEN not in str(error.value)


# -- JSON bodies signed over their hash (bodySHA256, PITFALLS 31) -------------------------------

#: Twilio's published test vector for a JSON webhook (twilio-python's request validator tests).
VECTOR_TOKEN = "12345"
VECTOR_URL = (
    "https://mycompany.com/myapp.php?foo=1&bar=2"
    "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
)
VECTOR_BODY = b'{"property": "value", "boolean": true}'
VECTOR_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="


def json_callback(
    url: str, body: bytes, signature: str, *, content_type: str = "application/json"
) -> CallbackRequest:
    return CallbackRequest(
        kind="status",
        url=url,
        method="POST",
        headers={"content-type": content_type, "x-twilio-signature": signature},
        body=body,
        content_type=content_type,
    )


def body_signed_url(base: str, body: bytes) -> str:
    """``base`` with the ``bodySHA256`` query parameter Twilio adds for a JSON body."""
    return f"{base}&bodySHA256={hashlib.sha256(body).hexdigest()}"


@pytest.fixture
def vector_connector(
    twilio_config: Callable[..., InstanceConfig],
    make_twilio_connector: Callable[[InstanceConfig], TwilioConnector],
) -> TwilioConnector:
    # No public base: the request URL is the URL Twilio signed, as in the vector. The
    # vector's token is shorter than the schema allows, so it is put in after validation.
    config = twilio_config(public_base=None)
    settings = dict(config.settings, auth_token=SecretStr(VECTOR_TOKEN))
    return make_twilio_connector(dataclasses.replace(config, settings=settings))


async def test_json_webhook_signed_over_body_sha256_verifies_twilio_vector(
    vector_connector: TwilioConnector,
) -> None:
    # Verified: what remains is that the vector is no status callback (no MessageSid).
    with pytest.raises(CallbackParseError, match="MessageSid"):
        await vector_connector.handle_callback(
            json_callback(VECTOR_URL, VECTOR_BODY, VECTOR_SIGNATURE)
        )


@pytest.mark.parametrize(
    "body",
    [b"", b'{"property": "value", "boolean": false}', VECTOR_BODY + b" ", b"property=value"],
    ids=["empty", "changed", "trailing-space", "as-form"],
)
async def test_json_webhook_with_a_body_not_matching_body_sha256_is_refused(
    vector_connector: TwilioConnector, body: bytes
) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        with pytest.raises(CallbackVerificationError, match="bodySHA256"):
            await vector_connector.handle_callback(
                json_callback(VECTOR_URL, body, VECTOR_SIGNATURE, content_type=content_type)
            )


async def test_json_status_callback_signed_over_body_sha256_becomes_a_status_update(
    connector: TwilioConnector,
) -> None:
    body = json.dumps(PARAMS).encode()
    url = body_signed_url(STATUS_URL, body)
    outcome = await connector.handle_callback(json_callback(url, body, signed(url, {})))
    (event,) = outcome.events
    assert isinstance(event, StatusUpdate)
    assert (event.provider_message_id, event.status.value) == (PARAMS["MessageSid"], "delivered")
    assert event.reference == "msg-42"


@pytest.mark.parametrize(
    ("url", "signed_over_body"),
    [
        ("https://relay.example.org/webhooks/t/sms/status?rk_ref=m1", False),
        ("https://relay.example.org/webhooks/t/sms/status?bodySHA256=ab", True),
        ("https://relay.example.org/webhooks/t/sms/status?body%53HA256=ab", True),  # encoded name
        ("https://relay.example.org/webhooks/t%2Fx/sms/status?a=b", False),
    ],
)
def test_a_url_signed_over_its_body_is_recognised_however_it_is_encoded(
    url: str, signed_over_body: bool
) -> None:
    assert signs_body(url) is signed_over_body
