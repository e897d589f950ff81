"""The Prism contract harness itself: the pin, the spec patch, mock and proxy behaviour.

PITFALLS 26 (version pin), 27 (repeated form keys) and 28 (the proxy checks
requests and 2xx bodies, never error bodies) each have a regression test here.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from relaykit_twilio_sandbox import DEFAULT_SMS_NUMBER, ThreadedSandbox, TwilioSandbox
from tests.twilio import sandbox_fixtures
from tests.twilio.sandbox_fixtures import (
    OFFICIAL_SPEC,
    PRISM,
    REPO_ROOT,
    TwilioSpec,
    basic_auth,
    patch_form_arrays,
    patch_relative_page_uris,
    run_prism,
)

pytestmark = pytest.mark.prism

ACCOUNT_SID = "AC" + "ab" * 16
MEDIA = ["https://example.com/a.png", "https://example.com/b.png"]
ERROR_KEYS = {"code", "message", "more_info", "status"}


class RewritingHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """The SDK's own HTTP client with every ``*.twilio.com`` URL sent to ``base_url``."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith("twilio.com"):
            url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, url, *args, **kwargs)


def sdk_for(base_url: str, account_sid: str, token: str) -> Client:
    return Client(account_sid, token, http_client=RewritingHttpClient(base_url))


async def post_form(
    url: str, data: list[tuple[str, str]] | dict[str, str], headers: dict[str, str]
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


# -- PITFALLS 26: the pin -------------------------------------------------------------------


def test_prism_is_pinned_to_the_last_release_for_node_20() -> None:
    manifest = json.loads((REPO_ROOT / "package.json").read_text())
    assert manifest["devDependencies"] == {"@stoplight/prism-cli": "5.14.2"}
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@stoplight/prism-cli"]["version"] == "5.14.2"


def test_installed_prism_is_the_pinned_version() -> None:
    if not PRISM.exists():
        pytest.fail(f"{PRISM} is missing: run `npm ci` in {REPO_ROOT}")
    out = subprocess.run(
        [str(PRISM), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "5.14.2"


def test_missing_prism_fails_with_the_fix_not_a_skip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sandbox_fixtures, "PRISM", tmp_path / "node_modules" / ".bin" / "prism")
    with (
        pytest.raises(pytest.fail.Exception, match="run `npm ci`"),
        run_prism(["mock", str(OFFICIAL_SPEC)], tmp_path / "prism.log"),
    ):
        pass


# -- PITFALLS 27: repeated form keys --------------------------------------------------------


def test_patch_marks_media_url_as_exploded_form(twilio_spec: TwilioSpec) -> None:
    document = copy.deepcopy(twilio_spec.document)
    patched = patch_form_arrays(document)
    create = document["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
    media = create["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert media["encoding"]["MediaUrl"] == {"style": "form", "explode": True}
    assert "POST /2010-04-01/Accounts/{AccountSid}/Messages.json: MediaUrl" in patched
    assert (
        "encoding"
        not in twilio_spec.document["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"][
            "post"
        ]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    )


def test_page_uris_become_uri_references(twilio_spec: TwilioSpec) -> None:
    """Twilio pages link with relative paths, which ajv's ``uri`` format refuses."""
    document = copy.deepcopy(twilio_spec.document)
    patched = patch_relative_page_uris(document)
    listing = document["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["get"]
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["next_page_uri"]["format"] == "uri-reference"
    assert "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json: uri" in patched


@pytest.fixture(scope="module")
def unpatched_prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prism on Twilio's spec exactly as published: shows why the patch exists."""
    log = tmp_path_factory.mktemp("prism-unpatched") / "prism.log"
    with run_prism(["mock", str(OFFICIAL_SPEC)], log) as url:
        yield url


async def test_unpatched_spec_rejects_repeated_media_urls(unpatched_prism_url: str) -> None:
    """stoplightio/prism#2473: if this starts passing, the patch may be retired."""
    url = f"{unpatched_prism_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    data = [("To", "+15551230001"), ("Body", "hi"), *(("MediaUrl", m) for m in MEDIA)]
    status, body = await post_form(url, data, basic_auth(ACCOUNT_SID, "token"))
    assert status == 422
    assert any("MediaUrl" in v["location"] for v in body["validation"])


async def test_patched_spec_accepts_repeated_media_urls(prism_mock_url: str) -> None:
    url = f"{prism_mock_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    data = [("To", "+15551230001"), ("Body", "hi"), *(("MediaUrl", m) for m in MEDIA)]
    status, _ = await post_form(url, data, basic_auth(ACCOUNT_SID, "token"))
    assert status == 201


# -- prism mock -----------------------------------------------------------------------------


def test_sdk_create_through_an_http_client_gets_201_from_prism(prism_mock_url: str) -> None:
    client = sdk_for(prism_mock_url, ACCOUNT_SID, "token")
    message = client.messages.create(
        to="+15551230001",
        from_=DEFAULT_SMS_NUMBER,
        body="hi",
        media_url=MEDIA,
        status_callback="https://example.com/status",
    )
    assert message.sid.startswith("SM") and message.status == "queued"


async def test_mock_answers_422_to_a_create_without_to(prism_mock_url: str) -> None:
    url = f"{prism_mock_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    status, body = await post_form(url, {"Body": "hi"}, basic_auth(ACCOUNT_SID, "token"))
    assert status == 422
    assert "To" in json.dumps(body["validation"])


async def test_mock_answers_422_to_a_malformed_account_sid(prism_mock_url: str) -> None:
    url = f"{prism_mock_url}/2010-04-01/Accounts/ACnothex/Messages.json"
    status, _ = await post_form(url, {"To": "+15551230001"}, basic_auth(ACCOUNT_SID, "t"))
    assert status == 422


async def test_mock_answers_401_without_auth(prism_mock_url: str) -> None:
    url = f"{prism_mock_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    status, _ = await post_form(url, {"To": "+15551230001", "Body": "hi"}, {})
    assert status == 401


# -- prism proxy in front of the sandbox ----------------------------------------------------


def proxied_sdk(prism_proxy_url: str, sandbox: TwilioSandbox) -> Client:
    return sdk_for(prism_proxy_url, sandbox.account_sid, sandbox.auth_token)


def test_sdk_create_through_the_proxy_reaches_the_sandbox(
    prism_proxy_url: str, prism_proxy_sandbox: TwilioSandbox
) -> None:
    client = proxied_sdk(prism_proxy_url, prism_proxy_sandbox)
    message = client.messages.create(
        to="+15551230001", from_=DEFAULT_SMS_NUMBER, body="hi", media_url=MEDIA
    )
    assert message.status == "queued"  # the proxy validated this 201 body against the spec
    (recorded,) = prism_proxy_sandbox.messages
    assert (recorded.sid, recorded.media_urls) == (message.sid, tuple(MEDIA))


def test_every_read_the_connector_uses_passes_the_proxy(
    prism_proxy_url: str, prism_proxy_sandbox: TwilioSandbox
) -> None:
    client = proxied_sdk(prism_proxy_url, prism_proxy_sandbox)
    sent = client.messages.create(to="+15551230001", from_=DEFAULT_SMS_NUMBER, body="hi")
    client.messages.create(to="+15551230001", from_=DEFAULT_SMS_NUMBER, body="again")
    assert client.api.v2010.accounts(prism_proxy_sandbox.account_sid).fetch().status == "active"
    numbers = client.incoming_phone_numbers.list(phone_number=DEFAULT_SMS_NUMBER)
    assert [n.phone_number for n in numbers] == [DEFAULT_SMS_NUMBER]
    assert client.messages(sent.sid).fetch().sid == sent.sid
    listed = client.messages.list(to="+15551230001", from_=DEFAULT_SMS_NUMBER, page_size=1)
    assert sorted(m.body for m in listed) == ["again", "hi"]


async def test_proxy_refuses_a_spec_breaking_request_before_the_sandbox(
    prism_proxy_url: str, prism_proxy_sandbox: TwilioSandbox
) -> None:
    sb = prism_proxy_sandbox
    url = f"{prism_proxy_url}/2010-04-01/Accounts/{sb.account_sid}/Messages.json"
    status, _ = await post_form(url, {"Body": "no To"}, basic_auth(sb.account_sid, sb.auth_token))
    assert status == 422
    assert sb.create_attempts == 0


async def test_proxy_answers_401_without_auth(
    prism_proxy_url: str, prism_proxy_sandbox: TwilioSandbox
) -> None:
    sb = prism_proxy_sandbox
    url = f"{prism_proxy_url}/2010-04-01/Accounts/{sb.account_sid}/Messages.json"
    status, _ = await post_form(url, {"To": "+15551230001", "Body": "x"}, {})
    assert status == 401 and sb.create_attempts == 0


@pytest.mark.parametrize(
    ("to", "status", "code"),
    [("+15005550001", 400, 21211), ("+15005550004", 400, 21610), ("+15005550009", 400, 21614)],
)
async def test_error_answers_pass_the_proxy_in_twilios_shape(
    prism_proxy_url: str, prism_proxy_sandbox: TwilioSandbox, to: str, status: int, code: int
) -> None:
    """PITFALLS 28: the proxy does not check error bodies, so this test does."""
    sb = prism_proxy_sandbox
    url = f"{prism_proxy_url}/2010-04-01/Accounts/{sb.account_sid}/Messages.json"
    data = {"To": to, "From": DEFAULT_SMS_NUMBER, "Body": "x"}
    got_status, body = await post_form(url, data, basic_auth(sb.account_sid, sb.auth_token))
    assert (got_status, set(body), body["code"], body["status"]) == (
        status,
        ERROR_KEYS,
        code,
        status,
    )
    assert body["more_info"].endswith(f"/{code}")


async def test_rate_limit_passes_the_proxy_with_retry_after(
    prism_proxy_url: str, prism_proxy_sandbox: TwilioSandbox
) -> None:
    sb = prism_proxy_sandbox
    sb.faults.update(rate_limit_creates=1, retry_after=3)
    url = f"{prism_proxy_url}/2010-04-01/Accounts/{sb.account_sid}/Messages.json"
    data = {"To": "+15551230001", "From": DEFAULT_SMS_NUMBER, "Body": "x"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers=basic_auth(sb.account_sid, sb.auth_token)) as r,
    ):
        body = await r.json()
        assert (r.status, r.headers.get("Retry-After")) == (429, "3")
    assert (set(body), body["code"]) == (ERROR_KEYS, 20429)


# -- the proxy checks 2xx bodies but not error bodies (PITFALLS 28) -----------------------


@pytest.fixture(scope="module")
def broken_upstream() -> Iterator[str]:
    """A fake Twilio answering a spec-breaking 201 and a shapeless 400."""

    async def create(request: web.Request) -> web.Response:
        await request.read()
        if request.headers.get("X-Want") == "400":
            return web.json_response({"oops": True}, status=400)
        return web.json_response({"sid": 5, "status": "bogus"}, status=201)

    class _Upstream(TwilioSandbox):
        def build_app(self) -> web.Application:
            app = web.Application()
            app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create)
            return app

    with ThreadedSandbox(_Upstream()) as upstream:
        yield upstream.url


@pytest.fixture(scope="module")
def broken_proxy_url(
    broken_upstream: str, prism_spec_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("prism-broken") / "prism.log"
    with run_prism(["proxy", "--errors", str(prism_spec_path), broken_upstream], log) as url:
        yield url


async def test_proxy_turns_a_spec_breaking_201_into_a_500(broken_proxy_url: str) -> None:
    url = f"{broken_proxy_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    status, body = await post_form(url, {"To": "+15551230001"}, basic_auth(ACCOUNT_SID, "t"))
    assert status == 500 and "VIOLATIONS" in body["type"]


async def test_proxy_lets_a_shapeless_error_body_through(broken_proxy_url: str) -> None:
    url = f"{broken_proxy_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    headers = {**basic_auth(ACCOUNT_SID, "t"), "X-Want": "400"}
    status, body = await post_form(url, {"To": "+15551230001"}, headers)
    assert (status, body) == (400, {"oops": True})
