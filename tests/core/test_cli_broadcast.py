"""``relaykit broadcast`` and ``relaykit broadcasts``, against the Twilio sandbox."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaykit.cli import app
from relaykit_twilio_sandbox import ThreadedSandbox, TwilioSandbox, default_account

TENANT = "acme"
DATA = {"code": "123456", "expires_minutes": "10", "service_name": "Portal"}
CSV = (
    "id,name,phone,sms_status,service_name\n"
    "a,Ann,+15005553001,enabled,\n"
    "b,Bob,+15005553002,enabled,Library\n"
    ",Nobody,+15005553003,enabled,\n"  # line 4: no id
    "c,Cat,,,\n"  # no number: the only step cannot be used
    "d,Dan,+15005553004,sometimes,\n"  # line 6: not a status
)


@pytest.fixture
def sandbox() -> Iterator[TwilioSandbox]:
    with ThreadedSandbox(TwilioSandbox(accounts=[default_account()], callback_delay=60)) as s:
        yield s


@pytest.fixture
def config(tmp_path: Path, sandbox: TwilioSandbox) -> Path:
    path = tmp_path / "relaykit.toml"
    path.write_text(
        f"""
data_dir = "{tmp_path / "data"}"
[log]
level = "warning"
[tenants.{TENANT}.instances.sms]
connector = "twilio"
rate_per_second = 100000
burst = 100000
[tenants.{TENANT}.instances.sms.settings]
account_sid = "{sandbox.account_sid}"
auth_token = "{sandbox.auth_token}"
sms_sender = "+15005550006"
api_base_url = "{sandbox.url}"
[tenants.{TENANT}.routes.default]
steps = [{{channel = "sms", instance = "sms"}}]
""",
        "utf-8",
    )
    return path


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(CSV, "utf-8")
    return path


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def broadcast(config: Path, people: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        config, "broadcast", TENANT, "otp", "--recipients", str(people),
        "--data", json.dumps(DATA), *extra,
    )  # fmt: skip


def test_json_prints_one_summary_with_counts_reasons_and_bad_lines(
    config: Path, people: Path, sandbox: TwilioSandbox
) -> None:
    code, out, err = broadcast(config, people, "--json")

    assert code == 0, out + err
    summary = json.loads(out)  # nothing but the summary on stdout
    assert err == ""  # quiet: no start line, no progress
    assert summary["state"] == "finished" and summary["recipients_read"] == 5
    assert summary["sent"] == 2 and summary["failed"] == 1 and summary["bad_rows"] == 2
    assert summary["by_channel"] == {"sms": 2}
    assert summary["fallback_reasons"] == {"no_number": 1}
    assert [(r["line"], r["reason"].split(":")[0]) for r in summary["bad_row_lines"]] == [
        (4, "id"),
        (6, "phones.0.sms_status"),
    ]
    bodies = {m.to: m.body for m in sandbox.messages}
    assert "Library" in bodies["+15005553002"] and "Portal" in bodies["+15005553001"]


def test_without_a_terminal_it_prints_the_start_line_bad_rows_and_the_summary_table(
    config: Path, people: Path
) -> None:
    code, out, err = broadcast(config, people, "--key", "drill")

    assert code == 0, out + err
    assert "started: acme/otp (key drill)" in err
    assert "line 4: id: is required" in err and "line 6: phones.0.sms_status" in err
    assert "finished" in out and "2 sent, 1 failed" in out
    assert "by channel" in out and "no_number" in out


def test_the_same_command_again_resumes_and_sends_nothing_twice(
    config: Path, people: Path, sandbox: TwilioSandbox
) -> None:
    broadcast(config, people)
    code, out, err = broadcast(config, people, "--json")

    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["resumed"] is True and summary["skipped_already_made"] == 3
    assert summary["sent"] == 2
    assert set(collections.Counter(m.to for m in sandbox.messages).values()) == {1}


def test_show_and_cancel(config: Path, people: Path) -> None:
    summary = json.loads(broadcast(config, people, "--json")[1])

    code, out, _ = run(config, "broadcasts", "show", summary["id"], "--json")
    assert code == 0 and json.loads(out)["by_state"] == {"sent": 2, "failed": 1}
    code, out, _ = run(config, "broadcasts", "show", summary["id"])
    assert code == 0 and "by channel" in out

    code, out, _ = run(config, "broadcasts", "cancel", summary["id"], "--json")
    assert code == 0 and json.loads(out)["state"] == "cancelled"
    assert json.loads(out)["sent"] == 2  # what was sent stays sent

    code, _, err = run(config, "broadcasts", "show", "nope")
    assert code == 2 and "no broadcast 'nope'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recipients", "people.xlsx"], "unknown recipients file type '.xlsx'"),
        (["--recipients", "missing.jsonl"], "cannot read"),
        (["--recipients", "PEOPLE", "--data", "[1]"], "--data must be a JSON object"),
        (["--recipients", "PEOPLE", "--data", "{bad"], "--data is not valid JSON"),
        (["--recipients", "PEOPLE", "--deadline", "0"], "--deadline must be a positive"),
        (["--recipients", "PEOPLE", "--deadline", "1e308"], "at most 2,592,000"),
    ],
)
def test_bad_input_exits_2_naming_the_option_without_a_traceback(
    config: Path, people: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [str(people) if a == "PEOPLE" else a for a in args]
    args = [str(tmp_path / a) if a.endswith((".xlsx", ".jsonl")) else a for a in args]
    code, out, err = run(config, "broadcast", TENANT, "otp", *args)
    assert code == 2, out + err
    assert message in err and "Traceback" not in out + err


def test_an_unknown_tenant_or_event_exits_2(config: Path, people: Path) -> None:
    code, _, err = run(config, "broadcast", "nobody", "otp", "--recipients", str(people))
    assert code == 2 and "unknown tenant 'nobody'" in err
    code, _, err = run(config, "broadcast", TENANT, "no_event", "--recipients", str(people))
    assert code == 2 and "no_event" in err


def test_dry_run_reports_what_would_happen_and_sends_nothing(
    config: Path, people: Path, sandbox: TwilioSandbox
) -> None:
    code, out, err = broadcast(config, people, "--dry-run", "--json")

    assert code == 0, out + err
    report = json.loads(out)
    assert report["total"] == 3 and report["by_channel"] == {"sms": 2}
    assert report["unreachable"]["total"] == 1
    assert report["bad_rows"]["count"] == 2
    assert [row["line"] for row in report["bad_rows"]["first"]] == [4, 6]
    assert report["sms_segments"]["total"] == 2
    assert sandbox.messages == []
    code, out, _ = run(config, "messages", "list", "--json")
    assert code == 0 and json.loads(out) == []  # nothing stored either

    code, out, err = broadcast(config, people, "--json")  # the real one does as planned
    assert json.loads(out)["by_channel"] == report["by_channel"]


def test_dry_run_and_the_start_line_give_the_time_at_the_senders_rate(
    config: Path, people: Path, tmp_path: Path
) -> None:
    slow = tmp_path / "slow.toml"
    slow.write_text(
        config.read_text("utf-8")
        .replace("rate_per_second = 100000", "rate_per_second = 0.01")
        .replace("burst = 100000", "burst = 1"),
        "utf-8",
    )

    code, out, err = broadcast(slow, people, "--dry-run")

    assert code == 0, out + err
    assert "sms: 2 messages at 0.01/s take about 1 min 40 s" in " ".join(out.split())
    code, out, err = broadcast(config, people)
    assert "sms: 5 messages at 100000/s take about 0 s" in " ".join(err.split())
