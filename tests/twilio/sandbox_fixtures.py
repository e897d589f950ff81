"""Fixtures that start the Twilio sandbox and Stoplight Prism (owned by the sandbox work).

Fixtures (star-imported by ``tests/twilio/conftest.py``):

* ``twilio_sandbox`` - a :class:`TwilioSandbox` in the test's event loop, fast callbacks.
* ``webhook_receiver`` - a small aiohttp server on 127.0.0.1 that records every
  webhook posted to it (status callbacks, inbound messages).
* ``twilio_spec`` - Twilio's official OpenAPI document, with strict validators.
* ``prism_spec_path`` - a copy of that document patched for Prism: repeated form
  keys (PITFALLS 27) and relative page URIs (see :func:`patch_relative_page_uris`).
* ``prism_mock_url`` - ``prism mock`` serving the patched spec (session).
* ``prism_proxy_url`` - ``prism proxy --errors`` in front of a sandbox running in a
  background thread (session); ``prism_proxy_sandbox`` is that sandbox, reset per test.

Helpers for tests (import them from ``tests.twilio.sandbox_fixtures``):
:class:`WebhookReceiver`, :class:`TwilioSpec`, :func:`patch_form_arrays`,
:func:`patch_relative_page_uris`, :func:`run_prism`, :func:`basic_auth`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator

from relaykit_twilio_sandbox import ThreadedSandbox, TwilioSandbox

__all__ = [
    "prism_mock_url",
    "prism_proxy_sandbox",
    "prism_proxy_url",
    "prism_spec_path",
    "prism_upstream_sandbox",
    "twilio_sandbox",
    "twilio_spec",
    "webhook_receiver",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_SPEC = REPO_ROOT.parent / "shared" / "twilio-oai" / "twilio_api_v2010.yaml"
PRISM = REPO_ROOT / "node_modules" / ".bin" / "prism"
PRISM_START_TIMEOUT_S = 90.0
#: libyaml reads the 1.5 MB spec in 0.3 s; the pure-Python reader takes about 10 s.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
#: Fast enough that a test waits milliseconds for a message's statuses.
TEST_CALLBACK_DELAY_S = 0.005


def basic_auth(username: str, password: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header (aiohttp's ``BasicAuth`` is deprecated)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -- the sandbox ------------------------------------------------------------------------------


@pytest.fixture
async def twilio_sandbox() -> AsyncIterator[TwilioSandbox]:
    """A sandbox with the default account, served from the test's event loop."""
    async with TwilioSandbox(callback_delay=TEST_CALLBACK_DELAY_S) as sandbox:
        yield sandbox


@dataclass
class ReceivedWebhook:
    """One request the receiver got; ``url`` is exactly what the sender called."""

    url: str
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Collects webhooks posted to ``url`` (any path below it) and answers ``status``."""

    url: str = ""
    received: list[ReceivedWebhook] = field(default_factory=list)
    status: int = 200
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.received.append(ReceivedWebhook(str(request.url), dict(request.headers), form, body))
        self._arrived.set()
        return web.Response(status=self.status, text="<Response/>", content_type="text/xml")

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedWebhook]:
        """Wait until ``count`` webhooks have arrived; fail the test after ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                pytest.fail(f"expected {count} webhooks, got {len(self.received)}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return self.received


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    """A webhook receiver on 127.0.0.1 with a free port, stopped after the test."""
    receiver = WebhookReceiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


# -- Twilio's official spec -----------------------------------------------------------------


def _rfc2822(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return parsedate_to_datetime(value).tzinfo is not None
    except (TypeError, ValueError):
        return False


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property required and no others: Twilio returns all fields, null or not."""
    if schema.get("type") != "object" or "properties" not in schema:
        return schema
    return {**schema, "required": sorted(schema["properties"]), "additionalProperties": False}


class TwilioSpec:
    """Twilio's OpenAPI document and strict validators built from its schemas.

    The spec's schemas have no required fields and allow extra ones (PITFALLS
    28); validating against them as they are would pass nearly anything, so
    here every property of the resource schemas and list pages is required and
    no extra property is allowed.
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        schemas = document["components"]["schemas"]
        self._components = {
            "schemas": {
                name: _strict(s) if name.startswith("api.v2010.") else s
                for name, s in schemas.items()
            }
        }
        self._formats = FormatChecker()
        self._formats.checks("date-time-rfc-2822")(_rfc2822)

    def _validator(self, schema: dict[str, Any]) -> OAS30Validator:
        root = {**schema, "components": self._components}
        return OAS30Validator(root, format_checker=self._formats)

    def errors(self, schema: dict[str, Any], body: Any) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in self._validator(schema).iter_errors(body)
        ]

    def component_errors(self, name: str, body: Any) -> list[str]:
        """What is wrong with ``body`` as ``#/components/schemas/<name>`` (strict)."""
        return self.errors({"$ref": f"#/components/schemas/{name}"}, body)

    def response_errors(self, path: str, method: str, status: int, body: Any) -> list[str]:
        """What is wrong with ``body`` as the documented response (list pages strict too)."""
        response = self.document["paths"][path][method]["responses"][str(status)]
        schema = response["content"]["application/json"]["schema"]
        return self.errors(_strict(schema), body)


@pytest.fixture(scope="session")
def twilio_spec() -> TwilioSpec:
    """Twilio's ``twilio_api_v2010.yaml`` from ``shared/``, loaded once."""
    if not OFFICIAL_SPEC.exists():
        pytest.fail(f"Twilio's OpenAPI spec is missing: expected {OFFICIAL_SPEC}")
    with OFFICIAL_SPEC.open(encoding="utf-8") as handle:
        return TwilioSpec(yaml.load(handle, Loader=_YAML_LOADER))


# -- Prism ----------------------------------------------------------------------------------


def patch_form_arrays(document: dict[str, Any]) -> list[str]:
    """Make Prism accept repeated form keys (``MediaUrl=a&MediaUrl=b``), as Twilio does.

    Prism 5 reads an array property of an ``application/x-www-form-urlencoded``
    body as one value unless the media type declares ``style: form, explode:
    true`` for it, and answers 422 (stoplightio/prism#2473, PITFALLS 27). Adds
    that encoding to every array property of every form body, in place.

    :returns: ``"METHOD path: property"`` for each property patched.
    """
    patched = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            content = operation["requestBody"].get("content", {})
            media = content.get("application/x-www-form-urlencoded")
            if not media:
                continue
            properties = media.get("schema", {}).get("properties", {})
            encoding = media.setdefault("encoding", {})
            for name, schema in properties.items():
                if schema.get("type") == "array":
                    encoding[name] = {"style": "form", "explode": True}
                    patched.append(f"{method.upper()} {path}: {name}")
    return patched


_PAGE_URIS = ("uri", "first_page_uri", "next_page_uri", "previous_page_uri")


def patch_relative_page_uris(document: dict[str, Any]) -> list[str]:
    """Let list pages carry relative URIs, as Twilio's API (and its own examples) do.

    The spec says ``format: uri`` for ``uri``/``first_page_uri``/``next_page_uri``
    /``previous_page_uri`` of every ``List…Response``, but Twilio answers with
    paths such as ``/2010-04-01/Accounts/AC…/Messages.json?Page=1`` and the SDK
    joins them to its base URL; an absolute URL there would break its paging.
    Prism (ajv) checks ``uri`` strictly, so these become ``uri-reference``, in place.

    :returns: ``"path: property"`` for each property patched.
    """
    patched = []
    for path, item in document["paths"].items():
        responses = item.get("get", {}).get("responses", {}) if isinstance(item, dict) else {}
        schema = responses.get("200", {}).get("content", {}).get("application/json", {})
        properties = schema.get("schema", {}).get("properties", {})
        for name in _PAGE_URIS:
            if properties.get(name, {}).get("format") == "uri":
                properties[name]["format"] = "uri-reference"
                patched.append(f"{path}: {name}")
    return patched


@pytest.fixture(scope="session")
def prism_spec_path(tmp_path_factory: pytest.TempPathFactory, twilio_spec: TwilioSpec) -> Path:
    """A patched copy of Twilio's spec under the session's tmp dir (``shared/`` stays as is)."""
    document = copy.deepcopy(twilio_spec.document)
    if not patch_form_arrays(document) or not patch_relative_page_uris(document):
        pytest.fail("nothing found to patch: has Twilio's spec changed shape?")
    target = tmp_path_factory.mktemp("prism") / "twilio_api_v2010.prism.yaml"
    with target.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle, Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True)
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def run_prism(args: list[str], log_path: Path) -> Iterator[str]:
    """Start ``prism <args>`` on a free loopback port; yield its URL once it answers.

    Fails (never skips) when Prism is not installed, or exits or stays silent
    during start-up; the failure shows the end of Prism's log.
    """
    if not PRISM.exists():
        pytest.fail(
            f"Stoplight Prism is not installed ({PRISM} is missing): "
            f"run `npm ci` in {REPO_ROOT} (.ci/setup.d/20-prism.sh does it in CI)"
        )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(PRISM), *args, "-h", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    try:
        deadline = time.monotonic() + PRISM_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"prism exited with {process.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"prism did not answer within {PRISM_START_TIMEOUT_S} s")
            if _answers(url):
                break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    """True once anything answers HTTP at ``url`` (Prism says 404 for ``/``)."""
    try:
        with urllib.request.urlopen(f"{url}/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def prism_mock_url(
    prism_spec_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``prism mock`` serving Twilio's (patched) spec; answers 422 to spec-breaking requests."""
    log = tmp_path_factory.mktemp("prism-mock-log") / "prism.log"
    with run_prism(["mock", str(prism_spec_path)], log) as url:
        yield url


@pytest.fixture(scope="session")
def prism_upstream_sandbox() -> Iterator[TwilioSandbox]:
    """The sandbox behind ``prism_proxy_url``, served from a background thread."""
    with ThreadedSandbox(TwilioSandbox(callback_delay=TEST_CALLBACK_DELAY_S)) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def prism_proxy_url(
    prism_upstream_sandbox: TwilioSandbox,
    prism_spec_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """``prism proxy --errors`` validating every request to a sandbox (and its 2xx bodies).

    The sandbox behind it runs in a background thread for the whole session;
    use ``prism_proxy_sandbox`` to inspect it or set its faults.
    """
    log = tmp_path_factory.mktemp("prism-proxy-log") / "prism.log"
    args = ["proxy", "--errors", str(prism_spec_path), prism_upstream_sandbox.url]
    with run_prism(args, log) as url:
        yield url


@pytest.fixture
def prism_proxy_sandbox(
    prism_proxy_url: str, prism_upstream_sandbox: TwilioSandbox
) -> TwilioSandbox:
    """The sandbox behind ``prism_proxy_url``, with no faults and no records from earlier tests."""
    prism_upstream_sandbox.faults.reset()
    prism_upstream_sandbox.clear()
    return prism_upstream_sandbox
