"""The OpenAPI document: the committed copy matches the served one, and the live API honours it.

schemathesis generates requests from the document (valid and invalid ones)
and sends them to a real uvicorn on 127.0.0.1 with a configured tenant,
the Twilio sandbox and an SMTP sink behind it. No request may get a 5xx,
and every response must match the document.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from openapi_core import OpenAPI
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from relaykit.service import openapi_document
from relaykit.templates import DeclaredEvents, EventTables, TemplateCatalog
from tests.declared_events import doorcode_events
from tests.service.conftest import (
    KEY,
    OTHER_KEY,
    OTHER_TENANT,
    TENANT,
    Cleanups,
    Service,
    start_service,
    stop_all,
)

DOCUMENT = Path(__file__).parents[2] / "docs" / "openapi.json"
REGENERATE = "uv run relaykit serve --openapi > docs/openapi.json"


class ThreadedService:
    """The live stack on its own event loop in a background thread (schemathesis calls are sync).

    :param options: for :func:`start_service` (declared events, say).
    """

    def __init__(self, data_dir: Path, **options: Any) -> None:
        self._data_dir = data_dir
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._cleanups: Cleanups = []

    def __enter__(self) -> Service:
        self._thread.start()
        return self._call(start_service(self._data_dir, self._cleanups, **self._options))

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._call(stop_all(self._cleanups))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with ThreadedService(tmp_path_factory.mktemp("schemathesis")) as service:
        yield service


def test_the_committed_document_is_the_served_one(live_service: Service) -> None:
    served = httpx.get(f"{live_service.url}/openapi.json").json()
    committed = json.loads(DOCUMENT.read_text("utf-8"))
    assert served == committed, f"docs/openapi.json is out of date; run: {REGENERATE}"


def test_the_document_publishes_each_events_variables(live_service: Service) -> None:
    document = httpx.get(f"{live_service.url}/openapi.json").json()
    request = Draft202012Validator(
        {"$ref": "#/components/schemas/NotificationRequest", "components": document["components"]}
    )
    recipient = {"id": "stu-1", "email": "parent@example.org"}
    events = {e.name: e for e in TemplateCatalog().events()}

    for name, event in events.items():
        required = {v.name: v.example for v in event.variables if v.required}
        body = {"event": name, "recipient": recipient, "data": required}
        assert request.is_valid(body), name
        for missing in required:
            partial = {k: v for k, v in required.items() if k != missing}
            assert not request.is_valid({**body, "data": partial}), (name, missing)
    assert any(not v.required for e in events.values() for v in e.variables)


# The committed document (the drift test above proves it is the served one). schemathesis'
# lazy fixture loader does not work with pytest 9 (it reads the removed ``Function._nodeid``).
schema = schemathesis.openapi.from_path(DOCUMENT)


@schemathesis.serializer("application/x-ndjson", "application/jsonl")
def _json_lines(context: Any, value: Any) -> bytes:
    """A broadcast's JSON-lines body (the document says: a string) as bytes on the wire."""
    return value if isinstance(value, bytes) else str(value).encode()


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_live_api_answers_every_generated_request_without_a_server_error(
    case: schemathesis.Case, live_service: Service
) -> None:
    # Schema-valid bodies may still be refused with 422 by rules a JSON Schema cannot state
    # (each event's variables are in it): an Idempotency-Key reused with another body, a
    # line break in a variable the email subject shows, a draft template that does not parse.
    excluded = [positive_data_acceptance] if case.method == "POST" else []
    if case.operation.path == "/v1/broadcasts":
        # Any text is a recipients file: its bad rows are counted, never refused (the
        # "invalid" bodies generated for the documented string are text on the wire too).
        excluded.append(negative_data_rejection)
    case.call_and_validate(
        base_url=live_service.url,
        headers={"Authorization": f"Bearer {KEY}"},
        excluded_checks=excluded,
        timeout=20,
    )


# -- a tenant's own document: GET /v1/openapi.json ---------------------------------------------

#: north-high's own event (the config also declares doorcode_changed for every tenant).
VISITOR_ARRIVED = {
    "title": "Visitor arrived",
    "variables": {
        "visitor": {"description": "Who arrived.", "example": "Sam Lee"},
        "desk": {"description": "Where they wait.", "required": False, "example": "Front"},
    },
    "templates": {
        "sms": "{{visitor}} is here.{{#desk}} At the {{desk}} desk.{{/desk}}",
        "email_subject": "{{visitor}} is here",
        "email_text": "{{visitor}} is here.",
        "email_html": "<p>{{visitor}} is here.</p>",
    },
}
DECLARED = DeclaredEvents(
    shared=(EventTables(doorcode_events()),),
    tenants={
        TENANT: (EventTables({"visitor_arrived": VISITOR_ARRIVED}, f"tenants.{TENANT}.events"),)
    },
)
#: What GET /v1/openapi.json should serve north-high (a test below proves it is).
TENANT_DOCUMENT = openapi_document(TemplateCatalog(declared=DECLARED).events(TENANT), tenant=TENANT)


@pytest.fixture(scope="module")
def declared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with ThreadedService(
        tmp_path_factory.mktemp("declared"),
        events=doorcode_events(),
        tenant_events={"visitor_arrived": VISITOR_ARRIVED},
    ) as service:
        yield service


def _tenant_document(service: Service, key: str) -> Any:
    answer = httpx.get(f"{service.url}/v1/openapi.json", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _notification_request(document: Any) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": "#/components/schemas/NotificationRequest", "components": document["components"]}
    )


def test_a_tenants_document_is_a_valid_openapi_document_with_its_own_events(
    declared_service: Service,
) -> None:
    document = _tenant_document(declared_service, KEY)

    OpenAPI.from_dict(document)  # raises for an invalid OpenAPI 3.1 document
    assert document == TENANT_DOCUMENT
    assert document["info"]["x-relaykit-tenant"] == TENANT
    schemas = document["components"]["schemas"]
    mapping = schemas["NotificationRequest"]["discriminator"]["mapping"]
    assert {"visitor_arrived", "doorcode_changed", "otp"} <= set(mapping)
    assert "visitor_arrived" in schemas["PreviewRequest"]["properties"]["event"]["enum"]
    assert schemas["VisitorArrivedData"]["required"] == ["visitor"]
    assert set(schemas["VisitorArrivedData"]["properties"]) == {"visitor", "desk"}


def test_a_tenants_document_requires_its_events_required_variables(
    declared_service: Service,
) -> None:
    request = _notification_request(_tenant_document(declared_service, KEY))
    body = {"event": "visitor_arrived", "recipient": {"id": "v-1"}, "data": {"visitor": "Sam"}}

    assert request.is_valid(body)
    assert not request.is_valid({**body, "data": {"desk": "Front"}})
    assert not request.is_valid({**body, "event": "no_such_event"})


def test_another_tenants_document_and_the_public_one_leave_a_tenants_own_event_out(
    declared_service: Service,
) -> None:
    other = _tenant_document(declared_service, OTHER_KEY)
    public = httpx.get(f"{declared_service.url}/openapi.json").json()

    assert other["info"]["x-relaykit-tenant"] == OTHER_TENANT
    for document in (other, public):
        schemas = document["components"]["schemas"]
        assert "visitor_arrived" not in schemas["NotificationRequest"]["discriminator"]["mapping"]
        assert "VisitorArrivedData" not in schemas
        assert "DoorcodeChangedData" in schemas  # the config's event, every tenant's


def test_a_tenants_document_needs_its_api_key(declared_service: Service) -> None:
    anonymous = httpx.get(f"{declared_service.url}/v1/openapi.json")
    wrong = httpx.get(
        f"{declared_service.url}/v1/openapi.json", headers={"Authorization": "Bearer nope"}
    )

    assert anonymous.status_code == wrong.status_code == 401
    assert "visitor_arrived" not in anonymous.text + wrong.text


def test_events_whose_names_camel_case_alike_keep_a_request_schema_each() -> None:
    declared = DeclaredEvents(
        shared=(
            EventTables(
                {
                    name: {"title": name, "variables": {}, "templates": {"sms": name}}
                    for name in ("gate_a", "gate__a", "gate_a_")
                }
            ),
        )
    )
    document = openapi_document(TemplateCatalog(declared=declared).events())

    OpenAPI.from_dict(document)
    request = _notification_request(document)
    mapping = document["components"]["schemas"]["NotificationRequest"]["discriminator"]["mapping"]
    assert len({mapping[n] for n in ("gate_a", "gate__a", "gate_a_")}) == 3
    for name in ("gate_a", "gate__a", "gate_a_"):
        assert request.is_valid({"event": name, "recipient": {"id": "r-1"}}), name


# The tenant's document, with declared events' data schemas, against the live service that
# declares them: generated notifications and previews of those events never get a 5xx.
tenant_schema = schemathesis.openapi.from_dict(TENANT_DOCUMENT).include(
    operation_id=["notify", "previewTemplate"]
)


@tenant_schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_live_api_answers_requests_generated_from_a_tenants_document_without_a_server_error(
    case: schemathesis.Case, declared_service: Service
) -> None:
    case.call_and_validate(
        base_url=declared_service.url,
        headers={"Authorization": f"Bearer {KEY}"},
        excluded_checks=[positive_data_acceptance],  # see the committed document's test
        timeout=20,
    )
