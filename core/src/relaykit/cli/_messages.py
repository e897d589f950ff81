"""``relaykit notify`` and ``relaykit messages list|show``: send, and the message report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from relaykit.cli._context import EXIT_CONFIG, EXIT_FAILED, CliContext, fail, print_json, stdout
from relaykit.cli._inputs import json_argument
from relaykit.errors import RelaykitError

app = typer.Typer(help="The message report: what was sent, how, and why.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", "-t", help="Tenant (default: the only one).")
]


def notify(
    ctx: typer.Context,
    event: Annotated[str, typer.Argument(help="Event name, e.g. attendance_absence.")],
    recipient: Annotated[str, typer.Option(help="Recipient as JSON, or @file.json.")],
    data: Annotated[str | None, typer.Option(help="Template data as JSON, or @file.json.")] = None,
    tenant: TenantOption = None,
    staff: Annotated[
        str | None, typer.Option(help="Sending staff user as JSON (two-way SMS).")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Never send twice for this key.")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Send an event to a recipient over the tenant's route; prints the delivery record."""
    context = ctx.ensure_object(CliContext)
    relay = context.relay()
    name = context.tenant(tenant)
    try:
        record = relay.notify(
            name,
            event,
            json_argument(recipient, "--recipient"),
            json_argument(data, "--data") or {},
            staff=json_argument(staff, "--staff"),
            idempotency_key=idempotency_key,
        )
    except (RelaykitError, ValidationError) as exc:
        fail(str(exc), code=EXIT_CONFIG)
        return
    finally:
        relay.close()
    if json:
        print_json(record.as_dict())
    else:
        _print_delivery(record.as_dict())
    if record.state == "failed":
        raise typer.Exit(EXIT_FAILED)


@app.command("list")
def list_messages(
    ctx: typer.Context,
    tenant: TenantOption = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Only messages created since (ISO 8601).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    json: JsonFlag = False,
) -> None:
    """List messages, newest first."""
    relay = ctx.ensure_object(CliContext).relay()
    rows = relay.store.deliveries.list_messages(
        tenant=tenant, status=status, channel=channel, since=since, limit=limit
    )
    if json:
        print_json(
            [{**m.as_dict(), "delivery": m.notification_id, "tenant": m.tenant} for m in rows]
        )
        return
    table = Table(
        "message",
        "delivery",
        "tenant",
        "channel",
        "to",
        "status",
        "fallback",
        "error",
        title="Messages",
    )
    for m in rows:
        table.add_row(
            m.id,
            m.notification_id,
            m.tenant,
            m.channel.value,
            m.to_address,
            m.status,
            m.fallback_reason or "",
            escape(m.error_code or ""),
        )
    stdout.print(table)


@app.command("retry")
def retry(
    ctx: typer.Context,
    message_ids: Annotated[
        list[str] | None, typer.Argument(help="Message ids to re-drive.", show_default=False)
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every failed message (with --tenant/--since).")
    ] = False,
    tenant: TenantOption = None,
    since: Annotated[
        datetime | None, typer.Option(help="With --failed: created since (ISO 8601).")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Re-drive failed messages (after an outage): due again now, with a fresh retry budget.

    Only a failed or undelivered message of a delivery that every channel failed;
    one that another channel carries is never sent twice. ``--failed`` picks the
    first failed step of each such delivery (the route goes on from there if it
    fails again). Sent at once with inline delivery, else by the worker. Exit 1
    if any could not be retried.
    """
    relay = ctx.ensure_object(CliContext).relay()
    try:
        ids = list(message_ids or [])
        if failed:
            rows = relay.store.deliveries.list_messages(
                tenant=tenant, status="failed", since=since, limit=100_000
            )
            # one per delivery that every channel failed: its first failed step
            firsts: dict[str, str] = {}
            for m in reversed(rows):
                firsts.setdefault(m.notification_id, m.id)
            ids += [
                message_id
                for delivery_id, message_id in firsts.items()
                if (record := relay.store.deliveries.get(delivery_id)) and record.state == "failed"
            ]
        if not ids:
            fail("name message ids, or --failed for every failed message", code=EXIT_CONFIG)
        results = [(message_id, relay.retry_message(message_id)) for message_id in ids]
        after = {m: relay.store.deliveries.message(m, timeline=False) for m, _ in results}
    finally:
        relay.close()
    report: list[dict[str, Any]] = []
    table = Table("message", "delivery", "retried", "status now", title="Re-driven")
    for message_id, retried in results:
        message = after[message_id]
        status = message.status if message else None
        delivery = message.notification_id if message else None
        report.append(
            {"id": message_id, "retried": retried, "status": status, "delivery": delivery}
        )
        table.add_row(
            message_id,
            delivery or "-",
            "yes" if retried else "no: not failed, or another channel carries it",
            status or "unknown message",
        )
    if json:
        print_json(report)
    else:
        stdout.print(table)
    if not all(retried for _, retried in results):
        raise typer.Exit(EXIT_FAILED)


@app.command("show")
def show(
    ctx: typer.Context,
    delivery_id: Annotated[str, typer.Argument(help="Delivery (notification) id or a message id.")],
    json: JsonFlag = False,
) -> None:
    """The report of one delivery: every channel tried, why it moved on, each status timeline."""
    store = ctx.ensure_object(CliContext).relay().store
    record = store.deliveries.get(delivery_id)
    if record is None:
        message = store.deliveries.message(delivery_id)
        record = store.deliveries.get(message.notification_id) if message else None
    if record is None:
        fail(f"no delivery or message with id {delivery_id!r}")
        return
    if json:
        print_json(record.as_dict())
    else:
        _print_delivery(record.as_dict())


def _print_delivery(record: dict[str, Any]) -> None:
    stdout.print(
        f"[bold]{record['event']}[/] for {escape(record['recipient_id'])} ({record['tenant']}): "
        f"[bold]{record['state']}[/] via {record['channel'] or '-'}   id {record['id']}"
    )
    table = Table("step", "channel", "to", "status", "moved on", "timeline")
    reasons = []
    for m in record["messages"]:
        timeline = " → ".join(
            change["status"] + ("" if change["applied"] else " (ignored)")
            for change in m["timeline"]
        )
        why = m["fallback_reason"] or ""
        table.add_row(str(m["step"]), m["channel"], m["to"] or "-", m["status"], why, timeline)
        if why:
            detail = " ".join(filter(None, [m["error_code"], m["error_message"]]))
            reasons.append(
                f"{m['channel']} ({m['instance']}): {why}" + (f" - {detail}" if detail else "")
            )
    stdout.print(table)
    for reason in reasons:
        stdout.print(f"  why: {escape(reason)}", highlight=False)
