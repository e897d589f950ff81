"""``relaykit check INSTANCE``: is this instance connected? Optionally send a test message."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

import typer
from rich.markup import escape

from relaykit.cli._context import EXIT_CONFIG, EXIT_FAILED, CliContext, fail, print_json, stdout
from relaykit.errors import ConnectorError, UnknownInstanceError
from relaykit.host import ConnectorHost
from relaykit.results import OutboundMessage

TEST_BODY = "relaykit test message from {label}: this instance can send."


def check(
    ctx: typer.Context,
    instance: Annotated[str, typer.Argument(help="tenant/instance, or instance if unambiguous.")],
    send_test: Annotated[
        bool, typer.Option("--send-test", help="Also send a message to the test_recipient setting.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Run the connector's authenticate check; exit 0 only when Connected.

    Every sender the instance will use is checked (its own and, for the
    tenant's two-way instance, each sender_pool number) and listed.
    """
    host = ctx.ensure_object(CliContext).host()
    try:
        config = host.resolve(instance)
    except UnknownInstanceError as exc:
        fail(str(exc), code=EXIT_CONFIG)
        return
    report = asyncio.run(_run(host, config.label, send_test))
    if json:
        print_json(report)
    else:
        _print(report)
    ok = report["connected"] and (not send_test or report["test_send"]["ok"])
    if not ok:
        raise typer.Exit(EXIT_FAILED)


async def _run(host: ConnectorHost, label: str, send_test: bool) -> dict[str, Any]:
    config = host.resolve(label)
    try:
        status = await host.authenticate(label)
        report: dict[str, Any] = {
            "instance": label,
            "connector": config.connector,
            "connected": status.connected,
            "state": status.state.value,
            "detail": status.detail,
            "senders": [dataclasses.asdict(sender) for sender in status.senders],
            "test_send": None,
        }
        if send_test and status.connected:
            report["test_send"] = await _send_test(host, label)
        elif send_test:
            report["test_send"] = {"ok": False, "error": "not sent: the instance is not connected"}
        return report
    finally:
        await host.aclose()


async def _send_test(host: ConnectorHost, label: str) -> dict[str, Any]:
    config = host.resolve(label)
    recipient = config.settings.get("test_recipient")
    if not recipient:
        return {"ok": False, "error": f"{label} has no test_recipient setting to send to"}
    channel = host.plugins.connectors.get(config.connector).spec.channels[0]
    message = OutboundMessage(
        channel=channel,
        to=str(recipient),
        body=TEST_BODY.format(label=label),
        subject="relaykit test message",
        reference=f"check-{label}",
    )
    try:
        receipt = await host.send(label, message)
    except ConnectorError as exc:
        return {"ok": False, "error": str(exc), "error_kind": type(exc).__name__}
    return {
        "ok": True,
        "to": receipt.to,
        "provider_message_id": receipt.provider_message_id,
        "status": receipt.status.value,
    }


def _print(report: dict[str, Any]) -> None:
    if report["connected"]:
        stdout.print(f"[green]Connected[/]  {report['instance']} ({report['connector']})")
    else:
        senders = report["senders"]
        failed = sum(1 for sender in senders if not sender["ok"])
        # the lines below say which senders and why; the detail would repeat them
        why = f"{failed} of {len(senders)} senders cannot send" if failed else report["detail"]
        stdout.print(
            f"[red]Not connected[/]  {report['instance']} ({report['connector']}): "
            f"{report['state']} - {escape(why)}",
            markup=True,
            highlight=False,
        )
    for sender in report["senders"]:
        mark = "[green]ok[/]" if sender["ok"] else "[red]not usable[/]"
        stdout.print(
            f"  {mark}  {sender['role']} {sender['sender']} {escape(sender['detail'])}",
            markup=True,
            highlight=False,
        )
    sent = report["test_send"]
    if sent is None:
        return
    if sent["ok"]:
        stdout.print(
            f"test message sent to {sent['to']}: {sent['provider_message_id']} ({sent['status']})"
        )
    else:
        stdout.print(f"[red]test message failed[/]: {escape(sent['error'])}")
