"""The CLI's delivery commands on the example (outbox) connector: notify, report, registries."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaykit.cli import app
from relaykit.delivery import IdempotencyKeyReusedError, Relay
from tests.core.conftest import CANARY_SECRET

pytestmark = pytest.mark.usefixtures("only_outbox")

RECIPIENT = {
    "id": "stu-1",
    "kind": "student",
    "email": "parent@example.org",
    "phones": [{"number": "+15005550080", "sms_status": "enabled"}],
}
EVENT = "attendance_absence"
DATA = {"student_name": "Jamie", "school_name": "North High", "absence_date": "Monday"}


@pytest.fixture
def config(tmp_path: Path, write_config: Callable[[str], Path]) -> Path:
    (tmp_path / "texts").mkdir()
    (tmp_path / "mails").mkdir()
    instance = '[tenants.north-high.instances.{name}]\nconnector = "outbox"\n' + (
        '[tenants.north-high.instances.{name}.settings]\ndirectory = "{dir}"\n'
        f'signing_secret = "{CANARY_SECRET}"\n'
    )
    return write_config(
        f'data_dir = "{tmp_path / "data"}"\n'
        + instance.format(name="sms", dir=tmp_path / "texts")
        + instance.format(name="mail", dir=tmp_path / "mails")
        + "[tenants.north-high.routes.default]\n"
        'steps = [{channel = "sms", instance = "sms"}, {channel = "email", instance = "mail"}]\n'
        "[tenants.north-high.sms]\nmonthly_limit = 1\n"
        "[tenants.north-high.two_way]\n"
        'permitted_roles = ["teacher"]\nsender_pool = ["+15005550100"]\ninstance = "sms"\n'
    )


def run(cli: CliRunner, config: Path, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, ["--config", str(config), *args])
    return result.exit_code, result.stdout


def notify(cli: CliRunner, config: Path, *extra: str, exit_code: int = 0) -> dict[str, object]:
    code, output = run(
        cli,
        config,
        "notify",
        "attendance_absence",
        "--recipient",
        json.dumps(RECIPIENT),
        "--data",
        json.dumps(DATA),
        "--json",
        *extra,
    )
    assert code == exit_code, output
    return json.loads(output)  # type: ignore[no-any-return]


def test_notify_sends_and_the_report_explains_the_fallback(
    cli: CliRunner, config: Path, tmp_path: Path
) -> None:
    first = notify(cli, config)
    second = notify(cli, config)  # the monthly limit of 1 is reached

    assert first["channel"] == "sms" and first["fallbacks"] == []
    assert second["channel"] == "email"
    assert second["fallbacks"] == [{"channel": "sms", "reason": "monthly_limit"}]
    assert "Jamie" in (tmp_path / "texts" / "outbox.jsonl").read_text()

    code, report = run(cli, config, "messages", "show", str(second["id"]))
    assert code == 0
    assert "monthly_limit" in report and "1 of 1 SMS used this month" in report

    code, listed = run(cli, config, "messages", "list", "--channel", "email", "--json")
    assert [m["delivery"] for m in json.loads(listed)] == [second["id"]]


def test_messages_list_since_compares_instants_across_utc_offsets(
    cli: CliRunner, config: Path
) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    notify(cli, config)
    later = before + timedelta(hours=1)

    def listed(instant: datetime, hours: int) -> int | str:
        since = instant.astimezone(timezone(timedelta(hours=hours))).isoformat(timespec="seconds")
        code, output = run(cli, config, "messages", "list", "--since", since, "--json")
        return len(json.loads(output)) if code == 0 else f"exit {code}"

    assert [listed(before, hours) for hours in (0, 14, -11)] == [1, 1, 1]
    assert [listed(later, hours) for hours in (0, 14, -11)] == [0, 0, 0]


def test_notify_with_an_idempotency_key_sends_once(
    cli: CliRunner, config: Path, tmp_path: Path
) -> None:
    first = notify(cli, config, "--idempotency-key", "abs-1")
    again = notify(cli, config, "--idempotency-key", "abs-1")
    assert again["id"] == first["id"] and again["duplicate"] is True
    assert len((tmp_path / "texts" / "outbox.jsonl").read_text().splitlines()) == 1


def test_notify_reusing_an_idempotency_key_with_other_data_exits_2_and_sends_nothing(
    cli: CliRunner, config: Path, tmp_path: Path
) -> None:
    first = notify(cli, config, "--idempotency-key", "abs-1")
    other = {**DATA, "absence_date": "Tuesday"}

    result = cli.invoke(
        app,
        [
            *("--config", str(config), "notify", "attendance_absence"),
            *("--recipient", json.dumps(RECIPIENT), "--data", json.dumps(other)),
            *("--idempotency-key", "abs-1"),
        ],
    )

    assert result.exit_code == 2
    assert "idempotency key" in result.output and str(first["id"]) in result.output
    assert len((tmp_path / "texts" / "outbox.jsonl").read_text().splitlines()) == 1


def test_relay_notify_reusing_an_idempotency_key_with_other_data_raises(
    config: Path, tmp_path: Path
) -> None:
    relay = Relay.from_config(config)
    try:
        first = relay.notify("north-high", EVENT, RECIPIENT, DATA, idempotency_key="abs-2")
        replay = relay.notify("north-high", EVENT, RECIPIENT, dict(DATA), idempotency_key="abs-2")
        with pytest.raises(IdempotencyKeyReusedError) as reused:
            relay.notify(
                "north-high",
                EVENT,
                RECIPIENT,
                {**DATA, "absence_date": "Tuesday"},
                idempotency_key="abs-2",
            )
    finally:
        relay.close()

    assert (replay.id, replay.duplicate, reused.value.delivery_id) == (first.id, True, first.id)
    assert len((tmp_path / "texts" / "outbox.jsonl").read_text().splitlines()) == 1


def test_notify_with_missing_template_data_exits_2_naming_the_variable(
    cli: CliRunner, config: Path
) -> None:
    result = cli.invoke(
        app,
        [
            "--config",
            str(config),
            "notify",
            "attendance_absence",
            "--recipient",
            json.dumps(RECIPIENT),
            "--data",
            "{}",
        ],
    )
    assert result.exit_code == 2
    assert "student_name" in result.output


def test_templates_set_preview_and_reset(cli: CliRunner, config: Path) -> None:
    source = "{{student_name}} & co were absent on {{absence_date}}"
    assert (
        run(cli, config, "templates", "set", "attendance_absence", "sms", "--source", source)[0]
        == 0
    )

    code, output = run(
        cli,
        config,
        "templates",
        "preview",
        "attendance_absence",
        "sms",
        "--data",
        json.dumps(DATA),
        "--json",
    )
    assert code == 0
    preview = json.loads(output)
    assert preview["text"] == "Jamie & co were absent on Monday"  # not HTML-escaped in SMS
    assert (preview["segments"], preview["encoding"], preview["origin"]) == (1, "GSM-7", "override")

    assert run(cli, config, "templates", "reset", "attendance_absence")[0] == 0
    _, output = run(cli, config, "templates", "show", "attendance_absence", "sms")
    assert source not in output


def test_templates_set_refuses_an_undeclared_variable(cli: CliRunner, config: Path) -> None:
    result = cli.invoke(
        app, ["--config", str(config), "templates", "set", "otp", "sms", "--source", "Code {{pin}}"]
    )
    assert result.exit_code == 2 and "pin" in result.output


def test_optouts_add_normalises_and_routes_around_the_number(cli: CliRunner, config: Path) -> None:
    assert run(cli, config, "optouts", "add", "+1 500-555-0080")[0] == 0

    record = notify(cli, config)

    assert record["fallbacks"] == [{"channel": "sms", "reason": "opted_out"}]
    _, output = run(cli, config, "optouts", "list", "--json")
    assert [(o["address"], o["opted_out"], o["source"]) for o in json.loads(output)] == [
        ("+15005550080", True, "cli")
    ]
    assert run(cli, config, "optouts", "remove", "+15005550080")[0] == 0
    assert notify(cli, config)["channel"] == "sms"


def test_usage_and_senders_show_the_pool(cli: CliRunner, config: Path) -> None:
    notify(cli, config, "--staff", json.dumps({"id": "ms-o", "role": "teacher"}))

    code, output = run(cli, config, "usage", "--json")
    assert code == 0
    usage = json.loads(output)
    assert (usage["sms_sent"], usage["sms_limit"]) == (1, 1)
    assert usage["sender_pool"] == [{"number": "+15005550100", "staff_user": "ms-o"}]

    assert run(cli, config, "senders", "release", "--staff", "ms-o")[0] == 0
    _, output = run(cli, config, "senders", "list", "--json")
    assert json.loads(output) == []


def test_queued_mode_notify_then_worker_sends(cli: CliRunner, config: Path, tmp_path: Path) -> None:
    config.write_text(config.read_text() + "[delivery]\ninline = false\n")

    record = notify(cli, config)
    assert [m["status"] for m in record["messages"]] == ["pending"]
    assert not (tmp_path / "texts" / "outbox.jsonl").exists()

    code, output = run(cli, config, "worker", "--until-idle", "--poll-interval", "0.01")

    assert code == 0, output
    assert "1 attempt(s)" in output
    assert "Jamie" in (tmp_path / "texts" / "outbox.jsonl").read_text()


@pytest.mark.parametrize("damage", ["random_bytes", "truncated"])
def test_corrupt_sqlite_store_names_the_file_and_what_to_do(
    cli: CliRunner, config: Path, tmp_path: Path, damage: str
) -> None:
    store = tmp_path / "data" / "relaykit.db"
    if damage == "random_bytes":
        store.parent.mkdir()
        store.write_bytes(random.Random(10).randbytes(16384))
    else:
        notify(cli, config)  # a real store with a message in it...
        store.write_bytes(store.read_bytes()[:4096])  # ...cut short

    for command in (
        ["notify", "attendance_absence", "--recipient", json.dumps(RECIPIENT), "--data", "{}"],
        ["worker", "--until-idle", "--poll-interval", "0.01"],
        ["messages", "list"],
    ):
        result = cli.invoke(app, ["--config", str(config), *command])

        assert isinstance(result.exception, SystemExit), f"{command[0]}: {result.exception!r}"
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert str(store) in result.output and "not a usable SQLite database" in result.output
        assert "move it aside" in result.output and "backup" in result.output


def test_messages_retry_redrives_failed_messages_after_an_outage(
    cli: CliRunner, config: Path, tmp_path: Path
) -> None:
    config.write_text(config.read_text() + "[delivery]\nmax_attempts = 1\n")
    (tmp_path / "texts").rmdir()  # both outboxes are unwritable: every channel fails
    (tmp_path / "mails").rmdir()
    record = notify(cli, config, exit_code=1)  # the delivery failed
    (tmp_path / "texts").mkdir()  # the outage is over
    (tmp_path / "mails").mkdir()

    code, output = run(cli, config, "messages", "retry", "--failed", "--json")

    assert code == 0, output
    retried = json.loads(output)
    assert [(r["delivery"], r["retried"], r["status"]) for r in retried] == [
        (record["id"], True, "sent")  # the SMS, the route's first step
    ]
    assert "Jamie" in (tmp_path / "texts" / "outbox.jsonl").read_text()
    code, output = run(cli, config, "messages", "retry", retried[0]["id"])
    assert code == 1 and "no: not failed" in output
