"""Reloading without a restart: rotated credentials and edited events, on SIGHUP.

An operator who replaces an Auth Token in ``RELAYKIT_SECRETS_DIR`` (or the
environment, or ``relaykit.toml``), or edits an ``[events.NAME]`` block or an
events file, sends SIGHUP to ``relaykit serve`` and ``relaykit worker``;
:func:`reload_on_sighup` wires that up. The settings are read once and
checked whole: a bad edit anywhere changes nothing (it is logged, naming the
field), and so does an edit of events that the running routes or a tenant's
saved templates could not use (:mod:`relaykit.delivery._event_check`). The
worker also re-reads the secrets on its own before each re-check of instances
marked not connected, so a fixed token is picked up there within its
housekeeping interval even without the signal.

Tenants, routes and the other settings are still read at start-up only.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable

from relaykit.delivery._event_check import checked_events
from relaykit.delivery.relay import Relay
from relaykit.errors import ConfigError
from relaykit.logs import get_logger
from relaykit.results import ConnectionState, ConnectionStatus
from relaykit.settings import RelaykitSettings
from relaykit.templates import TemplateCatalog

__all__ = ["recheck", "reload_config", "reload_events", "reload_on_sighup", "reload_secrets"]

log = get_logger("relaykit.reload")


#: The provider accepted the credentials: the instance is usable. A sender problem
#: (one pool number not owned, say) is met by the messages from that sender alone.
_CREDENTIALS_ACCEPTED = frozenset(
    {
        ConnectionState.CONNECTED,
        ConnectionState.SENDER_NOT_VERIFIED,
        ConnectionState.SENDER_REJECTED,
    }
)
#: What a send would meet as an ``AuthenticationError``, which marks the instance down.
_CREDENTIALS_REFUSED = frozenset(
    {ConnectionState.INVALID_CREDENTIALS, ConnectionState.ACCOUNT_SUSPENDED}
)


async def recheck(relay: Relay, labels: Iterable[str]) -> dict[str, ConnectionStatus]:
    """Authenticate each instance now: accepted credentials put it back into use,
    refused ones take it out (unreachable or misconfigured leaves the mark as it is).

    :returns: the status of each instance checked.
    """
    found: dict[str, ConnectionStatus] = {}
    for label in dict.fromkeys(labels):
        status = found[label] = await relay.host.authenticate(label)
        if status.state in _CREDENTIALS_ACCEPTED:
            if relay.health.is_down(label):
                log.info("instance_reconnected", instance=label, state=status.state.value)
            relay.health.mark_up(label)
        elif status.state in _CREDENTIALS_REFUSED:
            relay.health.mark_down(label, status.detail)
    return found


async def reload_secrets(
    relay: Relay, settings: RelaykitSettings | None = None
) -> dict[str, ConnectionStatus]:
    """Re-read the settings, rebuild the instances whose settings changed, re-check at once.

    Checked: every rebuilt instance and every instance marked not connected.

    :param settings: settings just read (:meth:`ConnectorHost.read_settings`), if any.
    :returns: the status of each instance checked.
    :raises ConfigError: the settings read now are invalid; the old ones stay in use.
    """
    changed = relay.host.reload(settings)
    found = await recheck(relay, [*changed, *relay.health.down()])
    log.info(
        "secrets_reloaded",
        rebuilt=changed,
        checked={label: status.state.value for label, status in found.items()},
    )
    return found


def reload_events(relay: Relay, settings: RelaykitSettings) -> list[str]:
    """Put the events ``settings`` declares in effect: shipped, ``[events]``, events files.

    :returns: the events added, changed or removed (``tenant/name`` for a tenant's own).
    :raises ConfigError: an event is malformed, a running route sends one by a
        channel it has no templates for now, or a tenant's saved template uses a
        variable it dropped; the events in effect stay.
    """
    return _take_events(relay, checked_events(relay, settings))


def _take_events(relay: Relay, candidate: TemplateCatalog) -> list[str]:
    changed = relay.templates.take_events(candidate)
    log.info("events_reloaded", changed=changed)
    return changed


async def reload_config(relay: Relay) -> None:
    """What SIGHUP does: read the settings once; take the secrets and the events from them.

    :raises ConfigError: the settings read now are invalid, or their events do not
        fit the running routes; nothing changed (secrets and events stay as they were).
    """
    settings = relay.host.read_settings()
    if settings is None:  # not built from a configuration: nothing to read again
        return
    events = checked_events(relay, settings)  # first: a bad event leaves the secrets too
    await reload_secrets(relay, settings)
    _take_events(relay, events)


def reload_on_sighup(relay: Relay, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """Run :func:`reload_config` on the running loop whenever the process gets SIGHUP.

    An invalid new configuration is logged (``config_reload_failed``, naming the
    field) and leaves the running one in place: secrets, instances and events.

    :param then: called after each successful reload (e.g. to drop cached checks).
    :returns: a function that removes the handler.
    """
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            await reload_config(relay)
        except ConfigError as exc:
            log.error("config_reload_failed", error=str(exc))
            return
        if then is not None:
            then()

    def handle() -> None:
        task = loop.create_task(reload())
        running.add(task)
        task.add_done_callback(running.discard)

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    loop.add_signal_handler(signal.SIGHUP, handle)
    return remove
