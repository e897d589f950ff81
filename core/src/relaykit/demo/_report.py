"""What the demo prints: the table of outcomes, where the mail is, how to poke at it."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from relaykit.demo._scenario import Outcome
from relaykit.demo._stack import TENANT, DemoStack

__all__ = ["print_outcomes", "print_poking"]

_STATUS_STYLE = {
    "delivered": "green",
    "read": "green",
    "sent": "cyan",
    "skipped": "yellow",
    "failed": "red",
    "undelivered": "red",
}


def _timeline(message: dict[str, Any], prefix: bool) -> str:
    statuses: list[str] = []
    for change in message.get("timeline", []):
        status = change["status"]
        if change["applied"] and status != "pending" and (not statuses or statuses[-1] != status):
            statuses.append(status)
    if not statuses:
        statuses = [message["status"]]
    shown = " → ".join(f"[{_STATUS_STYLE.get(s, 'white')}]{s}[/]" for s in statuses)
    return f"{message['channel']}: {shown}" if prefix else shown


def _reasons(delivery: dict[str, Any]) -> str:
    reasons = []
    for message in delivery.get("messages", []):
        if message["fallback_reason"]:
            code = f" ({message['error_code']})" if message["error_code"] else ""
            reasons.append(f"{message['channel']} {message['fallback_reason']}{code}")
    return "\n".join(reasons)


def print_outcomes(console: Console, outcomes: list[Outcome], stack: DemoStack) -> None:
    table = Table(
        title="relaykit demo: what happened to each notification",
        box=box.SIMPLE_HEAD,
        show_lines=True,
        pad_edge=False,
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("scenario")
    table.add_column("recipient", no_wrap=True)
    table.add_column("channel", no_wrap=True)
    table.add_column("status timeline", min_width=24)
    table.add_column("fallback reason")
    for number, outcome in enumerate(outcomes, start=1):
        delivery = outcome.delivery
        messages = delivery.get("messages", [])
        timelines = "\n".join(_timeline(m, len(messages) > 1) for m in messages)
        mark = "[green]✓[/]" if outcome.ok else "[red]✗[/]"
        table.add_row(
            f"{number} {mark}",
            escape(outcome.title),
            escape(outcome.recipient),
            str(delivery.get("channel") or "-"),
            timelines or "-",
            escape(_reasons(delivery)),
        )
    console.print(table)
    for outcome in outcomes:
        if outcome.note:
            console.print(escape(outcome.note))
    mails = sorted((stack.maildir / "new").glob("*")) if (stack.maildir / "new").is_dir() else []
    console.print(
        f"Emails ({len(mails)}) are in the Maildir [bold]{stack.maildir}[/] "
        f"(one file per message in {stack.maildir / 'new'}; any mail reader opens it)."
    )


def print_poking(console: Console, stack: DemoStack) -> None:
    url = stack.service_url
    key = stack.api_key
    console.print()
    console.print("[bold]Everything keeps running until Ctrl-C:[/]")
    console.print(f"  relaykit service   {url}   (OpenAPI: {url}/openapi.json)")
    console.print(f"  Twilio sandbox     {stack.twilio.url}   (messages: /_sandbox/messages)")
    console.print(f"  SMTP sink          {stack.email.url}   (Maildir: {stack.maildir})")
    console.print(f"  demo API key       {key}   (tenant {TENANT})")
    console.print()
    console.print("Try:")
    console.print(f"  curl -s -H 'Authorization: Bearer {key}' {url}/v1/messages")
    console.print(f"  curl -s -H 'Authorization: Bearer {key}' {url}/v1/connectors")
    body = (
        '{"event":"otp","recipient":{"id":"p1","email":"you@example.org","phones":'
        '[{"number":"+15005550010","sms_status":"enabled"}]},"data":{"code":"804251",'
        '"expires_minutes":"10","service_name":"North High Portal"}}'
    )
    console.print(
        f"  curl -s -X POST -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d '{body}' {url}/v1/notifications",
        markup=False,
    )
    console.print(f"  uv run relaykit -c {stack.config_file} messages list")
    console.print(f"  uv run relaykit -c {stack.config_file} usage")
