"""Edited events are picked up on SIGHUP: ``relaykit serve`` and ``relaykit worker`` as an
operator runs them (subprocesses reading ``relaykit.toml``), the Twilio sandbox, a real signal.

A good edit is in effect for the next request (``GET /v1/events``, both OpenAPI
documents, what is sent); a bad one is logged naming the field, and the
running events stay.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from relaykit.delivery import Relay
from relaykit.delivery.reload import reload_config, reload_events
from relaykit.errors import ConfigError
from relaykit.settings import load_settings
from relaykit_twilio_sandbox import ThreadedSandbox, TwilioSandbox
from tests.service.deployments import (
    RELAYKIT,
    STUDENT,
    SmsDeployment,
    eventually,
    write_at_once,
)

RECIPIENT = {"id": "stu-1", "kind": "student", "phones": [{"number": STUDENT}]}

GATE_OPENED = """
[events.gate_opened]
title = "Gate opened"
[events.gate_opened.variables.gate]
description = "Which gate."
example = "North"
[events.gate_opened.templates]
sms = "The {{gate}} gate is open."
"""
#: The same event edited: a second variable, another title and text.
GATE_OPENED_BY = """
[events.gate_opened]
title = "Gate opened by someone"
[events.gate_opened.variables.gate]
description = "Which gate."
example = "North"
[events.gate_opened.variables.opened_by]
description = "Who opened it."
example = "Sam"
[events.gate_opened.templates]
sms = "{{opened_by}} opened the {{gate}} gate."
"""
#: A bad edit: the template uses a variable the event does not declare.
GATE_OPENED_UNDECLARED = GATE_OPENED.replace("{{gate}} gate", "{{gate}} gate at {{time}}")

DOOR_CLOSED = """
[door_closed]
title = "Door closed"
variables = {}
templates = { sms = "The door is closed." }
"""
DOOR_LOCKED = """
[door_locked]
title = "Door locked"
[door_locked.variables.door]
description = "Which door."
example = "Front"
[door_locked.templates]
sms = "The {{door}} door is locked."
"""


class Deployment(SmsDeployment):
    """The deployment with an events file (``events.toml``) beside ``relaykit.toml``."""

    def __init__(self, tmp_path: Path, sandbox: TwilioSandbox, *, queued: bool) -> None:
        super().__init__(
            tmp_path,
            sandbox,
            queued=queued,
            auth_token=sandbox.auth_token,
            top='event_files = ["events.toml"]\n',
            extra=GATE_OPENED,
        )
        self.events_file = tmp_path / "events.toml"
        write_at_once(self.events_file, DOOR_CLOSED)

    def declare(self, events: str) -> None:
        """Write ``relaykit.toml`` with ``events`` (``[events.NAME]`` tables) at its end."""
        self.write(events)

    def reload(self, command: str) -> dict[str, Any]:
        """SIGHUP ``command``; that reload's log record (``events_reloaded`` or the failure)."""

        def outcomes() -> list[dict[str, Any]]:
            self.alive(command)
            done = ("events_reloaded", "config_reload_failed")
            return [r for r in self.log(command) if r.get("event") in done]

        before = len(outcomes())
        self.processes[command].send_signal(signal.SIGHUP)
        eventually(lambda: len(outcomes()) > before, f"{command} has reloaded")
        return outcomes()[before]

    def events(self) -> dict[str, Any]:
        status, body = self.call("/v1/events")
        assert status == 200, body
        return {e["name"]: e for e in body["events"]}

    def notify(self, event: str, data: dict[str, Any]) -> tuple[int, Any]:
        body = {"event": event, "recipient": RECIPIENT, "data": data}
        return self.call("/v1/notifications", body)

    def texts(self) -> list[str]:
        return self.texts_to_student()


@pytest.fixture
def sandbox() -> Iterator[TwilioSandbox]:
    with ThreadedSandbox(TwilioSandbox(callback_delay=0.005)) as running:
        yield running


@pytest.fixture
def deployment(tmp_path: Path, sandbox: TwilioSandbox) -> Iterator[Deployment]:
    running = Deployment(tmp_path, sandbox, queued=False)
    yield running
    running.stop()


@pytest.fixture
def serving(deployment: Deployment) -> Deployment:
    deployment.start("serve")
    deployment.wait_until_serving()
    return deployment


def _variables(event: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(v["name"], v["required"]) for v in event["variables"]]


def test_serve_takes_an_edited_event_on_sighup(serving: Deployment) -> None:
    assert _variables(serving.events()["gate_opened"]) == [("gate", True)]

    serving.declare(GATE_OPENED_BY)
    reloaded = serving.reload("serve")

    assert reloaded["event"] == "events_reloaded", reloaded
    assert reloaded["changed"] == ["gate_opened"]
    event = serving.events()["gate_opened"]
    assert event["title"] == "Gate opened by someone"
    assert _variables(event) == [("gate", True), ("opened_by", True)]
    missing = serving.notify("gate_opened", {"gate": "North"})
    assert missing[0] == 422, missing  # the new required variable
    sent = serving.notify("gate_opened", {"gate": "North", "opened_by": "Sam"})
    assert sent[0] == 201, sent
    eventually(lambda: serving.texts() == ["Sam opened the North gate."], "the new text is sent")


def test_serve_publishes_an_edited_event_in_both_openapi_documents(serving: Deployment) -> None:
    def data_schema(path: str) -> dict[str, Any]:
        status, document = serving.call(path)
        assert status == 200, document
        return dict(document["components"]["schemas"]["GateOpenedData"])

    assert data_schema("/openapi.json")["required"] == ["gate"]  # built before the edit

    serving.declare(GATE_OPENED_BY)
    serving.reload("serve")

    for path in ("/openapi.json", "/v1/openapi.json"):
        data = data_schema(path)
        assert data["required"] == ["gate", "opened_by"], path
        assert set(data["properties"]) == {"gate", "opened_by"}, path


def test_serve_takes_an_edited_events_file_on_sighup(serving: Deployment) -> None:
    assert "door_locked" not in serving.events()

    write_at_once(serving.events_file, DOOR_CLOSED + DOOR_LOCKED)
    reloaded = serving.reload("serve")

    assert reloaded["changed"] == ["door_locked"], reloaded
    assert _variables(serving.events()["door_locked"]) == [("door", True)]
    sent = serving.notify("door_locked", {"door": "Front"})
    assert sent[0] == 201, sent
    eventually(lambda: serving.texts() == ["The Front door is locked."], "it is sent")


def test_serve_refuses_a_bad_edit_on_sighup_naming_the_field_and_keeps_the_events(
    serving: Deployment,
) -> None:
    serving.declare(GATE_OPENED_UNDECLARED)
    refused = serving.reload("serve")

    assert refused["event"] == "config_reload_failed", refused
    assert "events.gate_opened.templates.sms" in refused["error"]
    assert "'time'" in refused["error"]
    assert serving.sandbox.auth_token not in serving.output("serve")  # the config's secret
    assert _variables(serving.events()["gate_opened"]) == [("gate", True)]
    sent = serving.notify("gate_opened", {"gate": "North"})
    assert sent[0] == 201, sent
    eventually(lambda: serving.texts() == ["The North gate is open."], "the old text is sent")

    serving.declare(GATE_OPENED_BY)  # fixed: the next SIGHUP takes it
    assert serving.reload("serve")["changed"] == ["gate_opened"]


def test_a_bad_events_file_is_refused_on_sighup_naming_the_file(serving: Deployment) -> None:
    write_at_once(
        serving.events_file, DOOR_CLOSED + DOOR_LOCKED.replace("[door_locked.templates]", "")
    )
    refused = serving.reload("serve")

    assert refused["event"] == "config_reload_failed", refused
    assert "events.toml" in refused["error"] and "door_locked" in refused["error"]
    assert "door_locked" not in serving.events()
    assert "door_closed" in serving.events()


def test_serve_with_workers_takes_an_edited_event_in_every_worker(deployment: Deployment) -> None:
    serve = deployment.start("serve", "--workers", "2")

    def both(event: str) -> Callable[[], bool]:
        def logged() -> bool:
            assert serve.poll() is None, deployment.output("serve")
            return [r.get("event") for r in deployment.log("serve")].count(event) == 2

        return logged

    # each worker handles SIGHUP once its app has started (before, it would just exit)
    eventually(both("Application startup complete."), "both worker processes serve", 60)
    deployment.declare(GATE_OPENED_BY)
    serve.send_signal(signal.SIGHUP)

    eventually(both("events_reloaded"), "each worker process has reloaded")
    for _ in range(8):  # spread over both workers
        assert _variables(deployment.events()["gate_opened"]) == [
            ("gate", True),
            ("opened_by", True),
        ]


def test_worker_takes_an_edited_event_on_sighup_and_refuses_a_bad_one(
    tmp_path: Path, sandbox: TwilioSandbox
) -> None:
    deployment = Deployment(tmp_path, sandbox, queued=True)
    try:
        worker = deployment.start("worker", "--poll-interval", "0.05")
        lock = tmp_path / "data" / "worker.lock"  # written once it runs (SIGHUP handled by then)

        def running() -> bool:
            assert worker.poll() is None, deployment.output("worker")
            return lock.exists() and lock.read_text().strip() == str(worker.pid)

        eventually(running, "the worker runs")

        deployment.declare(GATE_OPENED_BY)
        reloaded = deployment.reload("worker")
        deployment.declare(GATE_OPENED_UNDECLARED)
        refused = deployment.reload("worker")

        assert reloaded["event"] == "events_reloaded", reloaded
        assert reloaded["changed"] == ["gate_opened"]
        assert refused["event"] == "config_reload_failed", refused
        assert "events.gate_opened.templates.sms" in refused["error"]
        assert deployment.processes["worker"].poll() is None, deployment.output("worker")
    finally:
        deployment.stop()


# -- in process: what reload_config checks, on the same configuration files ---------------------

MAIL_ROUTE = """
[tenants.north-high.instances.mail]
connector = "email"
[tenants.north-high.instances.mail.settings]
host = "127.0.0.1"
port = 2525
security = "none"
from_address = "office@northhigh.example.org"
"""
#: gate_opened by email only (no SMS template), as a tenant routing it by email would declare it.
GATE_OPENED_BY_EMAIL = """
[events.gate_opened]
title = "Gate opened"
[events.gate_opened.variables.gate]
description = "Which gate."
[events.gate_opened.templates]
email_subject = "{{gate}} gate open"
email_text = "The {{gate}} gate is open."
email_html = "<p>The {{gate}} gate is open.</p>"
"""


async def test_an_edit_the_running_routes_cannot_send_is_refused_naming_the_route(
    tmp_path: Path, sandbox: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Valid as written (the route is edited too), but routes are read at start-up: the running
    # one still sends gate_opened by SMS, which the edited event has no template for.
    deployment = Deployment(tmp_path, sandbox, queued=False)
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "twilio,email")
    write_at_once(deployment.events_file, "")
    deployment.declare(MAIL_ROUTE + GATE_OPENED)
    relay = Relay.from_config(deployment.config)
    try:
        edited = deployment.base.replace(
            'steps = [{channel = "sms", instance = "sms"}]',
            'steps = [{channel = "email", instance = "mail"}]',
        )
        write_at_once(deployment.config, edited + MAIL_ROUTE + GATE_OPENED_BY_EMAIL)

        with pytest.raises(ConfigError) as refused:
            await reload_config(relay)

        assert "tenants.north-high.routes.default" in str(refused.value)
        assert "'gate_opened' by sms" in str(refused.value)
        text = relay.templates.render("north-high", "gate_opened", "sms", {"gate": "North"})
        assert text == "The North gate is open."  # the running event, kept
    finally:
        await relay.aclose()


async def test_a_tenants_own_edited_event_is_reported_as_tenant_and_name(
    tmp_path: Path, sandbox: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(tmp_path, sandbox, queued=False)
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "twilio")
    relay = Relay.from_config(deployment.config)
    try:
        own = GATE_OPENED.replace("[events.", "[tenants.north-high.events.")
        settings = load_settings(deployment.config)
        deployment.declare(GATE_OPENED + own.replace("is open", "is wide open"))

        changed = reload_events(relay, load_settings(deployment.config))

        assert changed == ["north-high/gate_opened"]
        text = relay.templates.render("north-high", "gate_opened", "sms", {"gate": "North"})
        assert text == "The North gate is wide open."
        assert relay.templates.render(None, "gate_opened", "sms", {"gate": "North"}) == (
            "The North gate is open."
        )
        assert reload_events(relay, settings) == ["north-high/gate_opened"]  # and back
    finally:
        await relay.aclose()


async def test_a_tenants_saved_template_follows_the_edited_event(
    tmp_path: Path, sandbox: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # relaykit templates set saved North High's own SMS; after the edit makes `gate` optional,
    # that text renders without it (it was checked against the old event before).
    deployment = Deployment(tmp_path, sandbox, queued=False)
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "twilio")
    relay = Relay.from_config(deployment.config)
    try:
        relay.templates.set_override("north-high", "gate_opened", "sms", "A gate is open.")
        assert relay.templates.render("north-high", "gate_opened", "sms", {"gate": "N"}) == (
            "A gate is open."
        )
        deployment.declare(GATE_OPENED.replace('example = "North"', "required = false"))

        reload_events(relay, load_settings(deployment.config))

        assert relay.templates.render("north-high", "gate_opened", "sms", {}) == "A gate is open."
    finally:
        await relay.aclose()


def test_serve_openapi_for_a_tenant_prints_what_its_key_gets(serving: Deployment) -> None:
    printed = subprocess.run(
        [RELAYKIT, "-c", str(serving.config), "serve", "--openapi", "--tenant", "north-high"],
        env=serving.env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == serving.call("/v1/openapi.json")[1]
    assert "GateOpenedData" in json.loads(printed.stdout)["components"]["schemas"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--openapi", "--tenant", "nowhere"], "north-high"),
        (["--tenant", "north-high"], "--openapi"),
    ],
    ids=["unknown-tenant", "without-openapi"],
)
def test_serve_tenant_option_misused_exits_2_naming_the_fix(
    deployment: Deployment, args: list[str], named: str
) -> None:
    done = subprocess.run(
        [RELAYKIT, "-c", str(deployment.config), "serve", *args],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2, done.stderr
    assert named in done.stderr and "Traceback" not in done.stderr


async def test_an_edit_a_tenants_saved_template_cannot_use_is_refused_naming_the_reset(
    tmp_path: Path, sandbox: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(tmp_path, sandbox, queued=False)
    monkeypatch.setenv("RELAYKIT_LOAD_PLUGINS", "twilio")
    relay = Relay.from_config(deployment.config)
    try:
        relay.templates.set_override("north-high", "gate_opened", "sms", "Gate {{gate}}: open.")
        deployment.declare(
            GATE_OPENED.replace("gate", "door").replace("door_opened", "gate_opened")
        )

        with pytest.raises(ConfigError) as refused:
            await reload_config(relay)

        message = str(refused.value)
        assert "north-high/gate_opened/sms" in message and "'gate'" in message
        assert "relaykit templates reset gate_opened sms --tenant north-high" in message
        assert relay.templates.render("north-high", "gate_opened", "sms", {"gate": "N"}) == (
            "Gate N: open."
        )
    finally:
        await relay.aclose()
