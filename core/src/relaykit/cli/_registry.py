"""``relaykit optouts``, ``relaykit usage``, ``relaykit senders``: the tenant registries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from relaykit.cli._context import EXIT_CONFIG, CliContext, fail, print_json, stdout

optouts = typer.Typer(help="Who opted out of messages, per address.", no_args_is_help=True)
senders = typer.Typer(help="Sender numbers assigned to staff users.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", "-t", help="Tenant (default: the only one).")
]
ChannelOption = Annotated[
    str, typer.Option(help="sms, whatsapp, email, or a channel kind a connector declares.")
]


@optouts.command("list")
def list_optouts(ctx: typer.Context, tenant: TenantOption = None, json: JsonFlag = False) -> None:
    """Every address with an opt-out state, and where it came from."""
    relay = ctx.ensure_object(CliContext).relay()
    entries = relay.store.optouts.entries(tenant)
    rows: list[dict[str, object]] = [
        {
            "tenant": e.tenant,
            "channel": e.channel,
            "address": e.address,
            "opted_out": e.opted_out,
            "source": e.source,
            "recipient_id": e.recipient_id,
            "updated_at": e.updated_at.isoformat(),
        }
        for e in entries
    ]
    if json:
        print_json(rows)
        return
    table = Table("tenant", "channel", "address", "state", "source", "recipient", title="Opt-outs")
    for e in entries:
        state = "opted out" if e.opted_out else "opted in"
        table.add_row(e.tenant, e.channel, e.address, state, e.source, e.recipient_id or "")
    stdout.print(table)


def _set(
    ctx: typer.Context, address: str, tenant: str | None, channel: str, opted_out: bool
) -> None:
    from relaykit.delivery.opt_out_addresses import opt_out_address

    context = ctx.ensure_object(CliContext)
    name = context.tenant(tenant)
    relay = context.relay()
    try:
        normalised = opt_out_address(relay.host, name, channel, address)
    except ValueError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    relay.store.optouts.set(name, channel, [normalised], opted_out=opted_out, source="cli")
    stdout.print(f"{name}: {normalised} ({channel}) {'opted out' if opted_out else 'opted in'}")


@optouts.command("add")
def add(
    ctx: typer.Context, address: str, tenant: TenantOption = None, channel: ChannelOption = "sms"
) -> None:
    """Opt an address out, normalised as the channel's address kind needs (E.164 for phones,
    by the connector for its own kinds)."""
    _set(ctx, address, tenant, channel, True)


@optouts.command("remove")
def remove(
    ctx: typer.Context, address: str, tenant: TenantOption = None, channel: ChannelOption = "sms"
) -> None:
    """Opt an address back in."""
    _set(ctx, address, tenant, channel, False)


def usage(ctx: typer.Context, tenant: TenantOption = None, json: JsonFlag = False) -> None:
    """SMS sent this month against the limit, and the sender pool: who holds which number."""
    from relaykit.delivery.planner import month_of

    context = ctx.ensure_object(CliContext)
    name = context.tenant(tenant)
    relay = context.relay()
    settings = relay.host.settings.tenants[name]
    month = month_of(datetime.now(UTC), settings.time_zone)
    held = {a.number: a.staff_user for a in relay.store.senders.assignments(name)}
    sent = relay.store.usage.count(name, month, "sms")
    limit = settings.sms.monthly_limit
    pool = [{"number": n, "staff_user": held.get(n)} for n in settings.two_way.sender_pool]
    if json:
        print_json(
            {
                "tenant": name,
                "month": month,
                "sms_sent": sent,
                "sms_limit": limit,
                "sender_pool": pool,
            }
        )
        return
    stdout.print(
        f"{name}, {month}: {sent} SMS sent of {limit if limit is not None else 'no limit'}"
    )
    table = Table("sender number", "assigned to", title="Sender pool")
    for number in settings.two_way.sender_pool:
        table.add_row(number, held.get(number) or "[dim]free[/]")
    stdout.print(table)


@senders.command("list")
def list_senders(ctx: typer.Context, tenant: TenantOption = None, json: JsonFlag = False) -> None:
    """Sender numbers held by staff users."""
    assignments = ctx.ensure_object(CliContext).relay().store.senders.assignments(tenant)
    rows = [
        {
            "tenant": a.tenant,
            "number": a.number,
            "staff_user": a.staff_user,
            "assigned_at": a.assigned_at.isoformat(),
        }
        for a in assignments
    ]
    if json:
        print_json(rows)
        return
    table = Table("tenant", "number", "staff user", "since", title="Sender assignments")
    for row in rows:
        table.add_row(row["tenant"], row["number"], row["staff_user"], row["assigned_at"])
    stdout.print(table)


@senders.command("release")
def release(
    ctx: typer.Context,
    tenant: TenantOption = None,
    staff: Annotated[str | None, typer.Option(help="Release this staff user's number.")] = None,
    number: Annotated[str | None, typer.Option(help="Release this number.")] = None,
) -> None:
    """Give a staff user's sender number back to the pool."""
    if not staff and not number:
        fail("give --staff or --number", code=EXIT_CONFIG)
    context = ctx.ensure_object(CliContext)
    name = context.tenant(tenant)
    released = context.relay().store.senders.release(name, staff_user=staff, number=number)
    stdout.print(f"{name}: released {released} number(s)")
