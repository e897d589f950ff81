"""``relaykit broadcast`` and ``relaykit broadcasts show|cancel``: one event to a file of people.

The file is streamed (JSON lines or CSV, :mod:`relaykit.recipient_files`). On a
terminal a progress bar shows sent / fallen back / failed, the rate and the
time left; without one (or with ``--json``) the command is quiet until its
summary. Ctrl-C stops cleanly - the attempts in flight finish and are
committed - and prints the command that resumes the broadcast (exit 130).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from relaykit.broadcast_policy import MAX_DEADLINE_SECONDS
from relaykit.cli._context import (
    EXIT_CONFIG,
    CliContext,
    fail,
    failing_on_config_errors,
    print_json,
    stderr,
    stdout,
)
from relaykit.cli._inputs import json_argument

if TYPE_CHECKING:  # the delivery engine is imported when a command runs, not at start-up
    from rich.progress import Progress

    from relaykit.delivery.broadcast import BroadcastRun
    from relaykit.store.broadcasts import BroadcastStatus

app = typer.Typer(help="Broadcasts: where one stands, and cancelling one.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

#: Exit code of a broadcast stopped by Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130
#: Bad rows printed with their line numbers; the rest are counted.
BAD_ROWS_SHOWN = 10


def derived_key(tenant: str, event: str, data: dict[str, Any], path: Path) -> str:
    """The key of a broadcast run without ``--key``: the same tenant, event, data and file
    (by its absolute path, not its contents: a file whose bad rows were fixed resumes)."""
    canonical = json.dumps(
        [tenant, event, data, str(path.resolve())], sort_keys=True, separators=(",", ":")
    )
    return f"{path.stem[:60]}-{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def broadcast(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="Tenant.")],
    event: Annotated[str, typer.Argument(help="Event name, e.g. emergency_alert.")],
    recipients: Annotated[
        Path, typer.Option("--recipients", help="Recipients file: .jsonl/.ndjson or .csv.")
    ],
    data: Annotated[
        str | None, typer.Option(help="Template data for everyone as JSON, or @file.json.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="Broadcast key: the same key resumes (default: from the file's path)."),
    ] = None,
    deadline: Annotated[
        float | None,
        typer.Option(help="Seconds each message has to be delivered before moving on."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Plan every recipient and report what would happen; send and store nothing.",
        ),
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Send an event to everyone in a recipients file; the same command again resumes it."""
    from relaykit.recipient_files import RecipientFileError, read_recipients

    context = ctx.ensure_object(CliContext)
    relay = context.relay()
    name = context.tenant(tenant)
    shared = json_argument(data, "--data") or {}
    if not isinstance(shared, dict):
        fail("--data must be a JSON object of template variables", code=EXIT_CONFIG)
    if deadline is not None and not 0 < deadline <= MAX_DEADLINE_SECONDS:
        fail(
            f"--deadline must be a positive number of seconds, at most {MAX_DEADLINE_SECONDS:,}",
            code=EXIT_CONFIG,
        )
    try:
        rows = read_recipients(recipients)
    except RecipientFileError as exc:
        fail(f"--recipients: {exc}", code=EXIT_CONFIG)
        return
    if dry_run:
        _dry_run(relay, name, event, rows, shared, deadline, json=json)
        return
    key = key or derived_key(name, event, shared, recipients)
    resume = _command(context, name, event, recipients, data, key, deadline)
    view = _View(quiet=json or not sys.stdout.isatty(), path=recipients, json=json)
    with failing_on_config_errors():
        status, run = asyncio.run(_run(relay, name, event, rows, shared, key, deadline, view))
    view.close()
    if json:
        print_json(
            {
                **status.as_dict(),
                "resumed": run.resumed,
                "stopped": run.stopped,
                "resume_command": resume if run.stopped else None,
                "skipped_already_made": run.skipped,
                "bad_row_lines": [{"line": r.line, "reason": r.reason} for r in run.bad_rows],
            }
        )
    else:
        _print_bad_rows(run)
        print_status(status, stopped=run.stopped)
        if not relay.inline and not run.stopped:
            stdout.print("queued: [bold]relaykit worker[/bold] sends the messages")
    if run.stopped:
        stderr.print(f"stopped; to resume, run:\n  {escape(resume)}", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED)


def _dry_run(
    relay: Any,
    tenant: str,
    event: str,
    rows: Any,
    data: dict[str, Any],
    deadline: float | None,
    *,
    json: bool,
) -> None:
    """``--dry-run``: the report of :func:`~relaykit.delivery.dry_run.plan_broadcast`."""
    from datetime import timedelta

    from relaykit.delivery.dry_run import plan_broadcast

    try:
        with failing_on_config_errors():
            report = plan_broadcast(
                relay,
                tenant,
                event,
                rows,
                data,
                deadline=None if deadline is None else timedelta(seconds=deadline),
            )
    finally:
        relay.close()
    if json:
        print_json(report.as_dict())
    else:
        report.render(stdout)


async def _run(
    relay: Any,
    tenant: str,
    event: str,
    rows: Any,
    data: dict[str, Any],
    key: str,
    deadline: float | None,
    view: _View,
) -> tuple[BroadcastStatus, BroadcastRun]:
    loop = asyncio.get_running_loop()
    started: list[BroadcastRun] = []
    interrupted = asyncio.Event()

    def on_sigint() -> None:
        interrupted.set()
        for run in started:
            run.stop()
        view.note("stopping: finishing the messages in flight (Ctrl-C again to quit at once)")
        loop.remove_signal_handler(signal.SIGINT)

    def on_start(run: BroadcastRun) -> None:
        started.append(run)
        if interrupted.is_set():
            run.stop()
        view.start(run)

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        status = await relay.arun_broadcast(
            tenant,
            event,
            rows,
            data,
            key=key,
            deadline=deadline,
            on_progress=view.progress,
            on_start=on_start,
        )
    finally:
        await relay.aclose()
    return status, started[0]


class _View:
    """What the command shows while it runs: a progress bar on a terminal, else nothing."""

    def __init__(self, *, quiet: bool, path: Path, json: bool) -> None:
        self.quiet = quiet
        self.json = json
        self.path = path
        self.bar: Progress | None = None
        self.task: Any = None

    def start(self, run: BroadcastRun) -> None:
        b = run.broadcast
        verb = "resuming" if run.resumed else "started"
        total = _count_rows(self.path)
        if not self.json:
            stderr.print(
                f"broadcast {b.id} {verb}: {escape(b.tenant)}/{escape(b.event)} "
                f"(key {escape(b.key)})",
                highlight=False,
            )
            if total is not None:
                stderr.print(escape(run.pacing.summary(total)), highlight=False)
        if self.quiet:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
        )
        self.task = self.bar.add_task("sending", total=total, counts="reading recipients")
        self.bar.start()

    def progress(self, status: BroadcastStatus) -> None:
        if self.bar is None:
            return
        rate = f"{status.rate:,.0f}/s" if status.rate else "-"
        self.bar.update(
            self.task,
            completed=status.sent + status.failed + status.bad_rows,
            counts=(
                f"sent {status.sent:,} · fallen back {status.fallen_back:,} · "
                f"failed {status.failed:,} · {rate}"
            ),
        )

    def note(self, text: str) -> None:
        if not self.json:
            stderr.print(text, highlight=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _count_rows(path: Path) -> int | None:
    """Lines in the file (less a CSV's header), for the bar's total and time left: a quick
    pass over the bytes, not a parse."""
    try:
        with path.open("rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None
    return max(0, lines - 1) if path.suffix.lower() == ".csv" else lines


def _command(
    context: CliContext,
    tenant: str,
    event: str,
    path: Path,
    data: str | None,
    key: str,
    deadline: float | None,
) -> str:
    """The exact command that resumes this broadcast."""
    words = ["relaykit"]
    if context.config_path is not None:
        words += ["--config", str(context.config_path)]
    words += ["broadcast", tenant, event, "--recipients", str(path)]
    if data is not None:
        words += ["--data", data]
    words += ["--key", key]
    if deadline is not None:
        words += ["--deadline", f"{deadline:g}"]
    return shlex.join(words)


def _print_bad_rows(run: BroadcastRun) -> None:
    if not run.bad:
        return
    for row in run.bad_rows[:BAD_ROWS_SHOWN]:
        stderr.print(f"line {row.line}: {escape(row.reason)}", highlight=False)
    if run.bad > BAD_ROWS_SHOWN:
        stderr.print(f"… and {run.bad - BAD_ROWS_SHOWN:,} more bad rows", highlight=False)


def print_status(status: BroadcastStatus, *, stopped: bool = False) -> None:
    """The summary: totals, then notifications per channel and messages per fallback reason."""
    state = "stopped" if stopped else status.state
    stdout.print(
        f"broadcast {status.id} [bold]{state}[/bold]: {status.recipients_read:,} read, "
        f"{status.bad_rows:,} bad rows; {status.notifications:,} notifications: "
        f"{status.sent:,} sent, {status.failed:,} failed, {status.pending:,} pending"
        + (f"; {status.rate:,.1f}/s" if status.rate else ""),
        highlight=False,
    )
    channels = Table("channel", "notifications", title="by channel", title_justify="left")
    for channel, count in sorted(status.by_channel.items()):
        channels.add_row(channel, f"{count:,}")
    stdout.print(channels)
    if status.fallback_reasons:
        reasons = Table("fallback reason", "messages", title="fallen back", title_justify="left")
        for reason, count in sorted(status.fallback_reasons.items(), key=lambda kv: -kv[1]):
            reasons.add_row(reason, f"{count:,}")
        stdout.print(reasons)


@app.command("show")
def show(
    ctx: typer.Context,
    broadcast_id: Annotated[str, typer.Argument(metavar="ID", help="Broadcast id.")],
    json: JsonFlag = False,
) -> None:
    """Where a broadcast stands: counts by state, channel and fallback reason; its rate."""
    relay = ctx.ensure_object(CliContext).relay()
    try:
        status = relay.broadcast_status(broadcast_id)
    finally:
        relay.close()
    if status is None:
        fail(f"no broadcast {broadcast_id!r}", code=EXIT_CONFIG)
        return
    _print(status, json=json)


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    broadcast_id: Annotated[str, typer.Argument(metavar="ID", help="Broadcast id.")],
    json: JsonFlag = False,
) -> None:
    """Cancel a broadcast: nothing more is enqueued or sent; what was sent stays sent."""
    relay = ctx.ensure_object(CliContext).relay()
    try:
        if not relay.cancel_broadcast(broadcast_id):
            fail(f"no broadcast {broadcast_id!r}", code=EXIT_CONFIG)
        status = relay.broadcast_status(broadcast_id)
    finally:
        relay.close()
    assert status is not None
    _print(status, json=json)


def _print(status: BroadcastStatus, *, json: bool) -> None:
    """``broadcasts show``'s and ``cancel``'s answer: the status as JSON, or the summary."""
    if json:
        print_json(status.as_dict())
    else:
        print_status(status)
