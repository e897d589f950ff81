"""``Relay``: the Python API workflow engines call - notify, look up, apply callbacks.

One notification walks its tenant's route for the event: steps that cannot be
used are recorded as skipped with their reason; the first usable step is
committed ``pending`` together with the idempotency key before any provider
is called. Inline (the default) sends it within the call; queued mode leaves
it to ``relaykit worker``. A permanent failure, an opt-out, rejected
credentials, exhausted retries, a later ``undelivered``/``failed`` callback
or a missed delivery deadline moves it to the next step - once per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from relaykit.delivery._background import BackgroundBroadcasts
from relaykit.delivery.addresses import ConnectorAddressBook
from relaykit.delivery.batch import Accepted
from relaykit.delivery.broadcast import BroadcastRun, Progress, Recipients, open_run
from relaykit.delivery.callbacks import CallbackApplier
from relaykit.delivery.consent import Consent
from relaykit.delivery.dispatcher import Dispatcher, RetryPolicy, utcnow
from relaykit.delivery.health import InstanceHealth
from relaykit.delivery.planner import Plan, Planner
from relaykit.delivery.ratelimit import RATE_LIMIT_PLUGIN_NAME, RateLimiter
from relaykit.delivery.reasons import FallbackReason
from relaykit.delivery.router import Router
from relaykit.delivery.unit import DeliverMessages
from relaykit.errors import RelaykitError
from relaykit.host import ConnectorHost
from relaykit.plugins import MIDDLEWARE_GROUP, PluginHost
from relaykit.recipients import Recipient, StaffUser
from relaykit.results import CallbackOutcome, CallbackRequest
from relaykit.settings import TenantSettings
from relaykit.store import Claimed, DeliveryRecord, Store, request_fingerprint
from relaykit.store.broadcasts import BroadcastStatus
from relaykit.store.states import notification_state
from relaykit.templates import TemplateCatalog

__all__ = ["IdempotencyKeyReusedError", "NotPermittedError", "Relay", "RetryPolicy"]

T = TypeVar("T")


class NotPermittedError(RelaykitError):
    """The staff user may not send (their role is not permitted, or they are not staff)."""


class IdempotencyKeyReusedError(RelaykitError):
    """The idempotency key belongs to a notification made with another request; nothing was sent.

    :ivar delivery_id: the notification the key belongs to.
    """

    def __init__(self, delivery_id: str) -> None:
        super().__init__(
            f"this idempotency key already belongs to delivery {delivery_id}, made with a "
            "different request (event, recipient, data or staff); repeat that request to get "
            "the delivery again, or use a new key for a new notification"
        )
        self.delivery_id = delivery_id


class Relay:
    """Notifications in, messages out; the store remembers everything.

    Build it with :meth:`from_config`. ``notify`` and ``close`` run on a
    private event loop; from async code use ``anotify`` and ``aclose``.

    :param inline: send within ``notify`` (default); ``False`` only commits
        the message for ``relaykit worker`` to send.
    """

    def __init__(
        self,
        host: ConnectorHost,
        store: Store,
        templates: TemplateCatalog | None = None,
        *,
        retry: RetryPolicy | None = None,
        inline: bool = True,
    ) -> None:
        self.host = host
        self.store = store
        self.templates = templates or TemplateCatalog(
            store.templates, declared=host.settings.declared_events()
        )
        self.inline = inline
        self.health = InstanceHealth()
        planner = Planner(
            store,
            self.templates,
            self.health,
            host.reports_delivery,
            addresses=ConnectorAddressBook(host),
        )
        self.router = Router(store, planner, host.settings)
        self.consent = Consent(store, host.settings)
        policy = retry or RetryPolicy()
        self.dispatcher = Dispatcher(host, store, self.router, self.consent, self.health, policy)
        #: the unit of work every path that sends runs
        self.unit = DeliverMessages(
            self.dispatcher,
            store,
            inline_wait=policy.inline_wait,
            concurrency=host.settings.delivery.concurrency,
        )
        self.callbacks = CallbackApplier(store, self.router, self.consent, host.settings)
        self._runner: asyncio.Runner | None = None
        #: broadcasts running as tasks of this process's loop (``abroadcast``), by id
        self._broadcast_runs: dict[str, tuple[BroadcastRun, asyncio.Task[BroadcastStatus]]] = {}
        self._background = BackgroundBroadcasts(self)
        if not host.plugins.pm.has_plugin(RATE_LIMIT_PLUGIN_NAME):
            host.plugins.register_plugin(
                RateLimiter(store, host), RATE_LIMIT_PLUGIN_NAME, group=MIDDLEWARE_GROUP
            )

    @classmethod
    def from_config(
        cls,
        config_path: Path | str | None = None,
        *,
        plugins: PluginHost | None = None,
        retry: RetryPolicy | None = None,
        inline: bool | None = None,
        **overrides: Any,
    ) -> Relay:
        """Settings, plugins, instances and the store (migrated), from ``relaykit.toml`` and env.

        :raises ConfigError: for any bad setting, naming tenant, instance and field.
        """
        host = ConnectorHost.from_config(config_path, plugins=plugins, **overrides)
        return cls.from_host(host, retry=retry, inline=inline)

    @classmethod
    def from_host(
        cls,
        host: ConnectorHost,
        *,
        store: Store | None = None,
        retry: RetryPolicy | None = None,
        inline: bool | None = None,
    ) -> Relay:
        """A relay over an already built host, with its ``[delivery]`` settings and store."""
        settings = host.settings
        delivery = settings.delivery
        store = store or Store.open(settings.database_url, data_dir=settings.data_dir)
        policy = retry or RetryPolicy.from_settings(delivery)
        return cls(host, store, retry=policy, inline=delivery.inline if inline is None else inline)

    # -- notify ---------------------------------------------------------------------------------

    async def anotify(
        self,
        tenant: str,
        event: str,
        recipient: Recipient | Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        *,
        staff: StaffUser | Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> DeliveryRecord:
        """Send ``event`` to ``recipient`` over the tenant's route; returns the delivery record.

        The same ``idempotency_key`` (per tenant) never sends twice: the same
        request again returns the first delivery with ``duplicate=True``; another
        request (event, recipient, data or staff differ, see
        :func:`~relaykit.store.request_fingerprint`) raises.

        :raises ConfigError: unknown tenant, or no route for the event.
        :raises NotPermittedError: ``staff`` may not send.
        :raises TemplateError: ``data`` lacks a variable the event's templates need.
        :raises IdempotencyKeyReusedError: the key was used with a different request.
        """
        settings = self.tenant(tenant)
        person = (
            recipient if isinstance(recipient, Recipient) else Recipient.model_validate(recipient)
        )
        sender = self._permitted(settings, staff)
        fingerprint = ""
        if idempotency_key is not None:
            fingerprint = request_fingerprint(
                event,
                person.model_dump(mode="json"),
                dict(data or {}),
                sender.model_dump(mode="json") if sender else None,
            )
            existing = self._replay(tenant, idempotency_key, fingerprint)
            if existing is not None:
                return existing
        plan = Plan.build(tenant, settings, event, person, dict(data or {}), sender)
        # An unknown event, or data its templates cannot use, fails before anything is stored
        # (even when no step will render, e.g. a recipient with no address): as published.
        self.templates.event(event, tenant).checked_data(data or {})
        return await self._start(plan, idempotency_key, fingerprint)

    def notify(self, *args: Any, **kwargs: Any) -> DeliveryRecord:
        """The synchronous twin of :meth:`anotify`."""
        return self._run(self.anotify(*args, **kwargs))

    async def _start(
        self, plan: Plan, idempotency_key: str | None = None, fingerprint: str = ""
    ) -> DeliveryRecord:
        planned = self.router.first(plan, utcnow())
        made = await self.store.deliveries.astart(
            tenant=plan.tenant_name,
            event=plan.event,
            recipient=plan.recipient.model_dump(mode="json"),
            data=plan.data,
            staff=plan.staff.model_dump(mode="json") if plan.staff else None,
            idempotency_key=idempotency_key,
            planned=planned,
            claim=self.inline and not self.dispatcher.stopping,
        )
        if not made.created:  # another call took the key first
            assert idempotency_key is not None
            replay = self._replay(plan.tenant_name, idempotency_key, fingerprint)
            assert replay is not None
            return replay
        done = await self.unit.deliver_now([Claimed(m, m.attempt_count) for m in made.claimed])
        settled = [r.settled for r in done.results if isinstance(r, Accepted) and r.settled]
        whole = len(settled) == len(done) == len(made.claimed)
        if not settled or not whole or made.created_at is None:
            # a retry, a fallback, or a callback first: only the store has the whole story
            return self._record(made.notification_id)
        # Nothing but the accepted sends happened: the record is what was committed.
        by_id = {m.id: m for m in settled}
        carried = settled[-1]
        return DeliveryRecord(
            id=made.notification_id,
            tenant=plan.tenant_name,
            event=plan.event,
            recipient_id=plan.recipient.id,
            state=notification_state(carried.status),
            channel=carried.channel,
            idempotency_key=idempotency_key,
            created_at=made.created_at,
            messages=tuple(by_id.get(m.id, m) for m in made.messages),
        )

    # -- lookups --------------------------------------------------------------------------------

    def delivery(self, notification_id: str) -> DeliveryRecord | None:
        """The delivery record of a notification, with every message and its timeline."""
        return self.store.deliveries.get(notification_id)

    def _replay(self, tenant: str, idempotency_key: str, fingerprint: str) -> DeliveryRecord | None:
        """The delivery holding the key if it was made by the same request; None if unused."""
        found = self.store.deliveries.keyed(tenant, idempotency_key)
        if found is None:
            return None
        notification_id, first = found
        if first != fingerprint:
            raise IdempotencyKeyReusedError(notification_id)
        return self._record(notification_id, duplicate=True)

    def delivery_by_key(self, tenant: str, idempotency_key: str) -> DeliveryRecord | None:
        found = self.store.deliveries.find_by_key(tenant, idempotency_key)
        return self.store.deliveries.get(found) if found else None

    # -- broadcasts (delivery/broadcast.py) ------------------------------------------------------

    async def abroadcast(
        self,
        tenant: str,
        event: str,
        recipients: Recipients,
        data: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        deadline: float | None = None,
    ) -> str:
        """Start sending ``event`` to every recipient, as a task; returns the broadcast id at once.

        ``recipients`` is any iterable or async iterable (of :class:`Recipient`, mappings,
        or :func:`~relaykit.recipient_files.read_recipients` rows), read a chunk at a time.
        The same ``key`` again resumes the broadcast: nobody is sent to twice. Without a
        key every call is a new broadcast. ``deadline``: seconds each message has to be
        delivered before its notification moves on.

        :raises ConfigError: unknown tenant.
        :raises BroadcastKeyReusedError: ``key`` belongs to a broadcast of other event or data.
        """
        run = await open_run(self, tenant, event, data, key=key, deadline=deadline)
        self.start_run(run, recipients)
        return run.broadcast.id

    def start_run(self, run: BroadcastRun, recipients: Recipients) -> asyncio.Task[BroadcastStatus]:
        """Run an opened broadcast (:func:`~relaykit.delivery.broadcast.open_run`) as a task of
        the running loop, known to :meth:`cancel_broadcast` and :meth:`broadcast_running`."""
        task = asyncio.create_task(run.run(recipients))
        self._broadcast_runs[run.broadcast.id] = (run, task)
        task.add_done_callback(lambda _: self._broadcast_runs.pop(run.broadcast.id, None))
        return task

    async def astop_broadcasts(self) -> None:
        """Stop this process's broadcast runs (attempts in flight finish) and wait for them;
        each resumes when run again with its key (``serve`` calls this as it shuts down)."""
        runs = list(self._broadcast_runs.values())
        for run, _ in runs:
            run.stop()
        await asyncio.gather(*(task for _, task in runs), return_exceptions=True)

    def broadcast_running(self, broadcast_id: str) -> bool:
        """Whether a run of the broadcast is under way in this process."""
        return broadcast_id in self._broadcast_runs

    async def arun_broadcast(
        self,
        tenant: str,
        event: str,
        recipients: Recipients,
        data: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        deadline: float | None = None,
        on_progress: Progress | None = None,
        on_start: Callable[[BroadcastRun], None] | None = None,
    ) -> BroadcastStatus:
        """:meth:`abroadcast`, run to its end here; its final status.

        :param on_progress: called with the counts so far a few times a second, and
            with the final status.
        :param on_start: called with the run once the broadcast is open (its id, key,
            whether it resumes); :meth:`BroadcastRun.stop` stops it cleanly.
        """
        run = await open_run(
            self, tenant, event, data, key=key, deadline=deadline, on_progress=on_progress
        )
        if on_start is not None:
            on_start(run)
        return await self.start_run(run, recipients)

    def broadcast(
        self,
        tenant: str,
        event: str,
        recipients: Recipients,
        data: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        deadline: float | None = None,
    ) -> str:
        """The synchronous twin of :meth:`abroadcast`: returns the id at once; the broadcast
        runs on a thread of its own (see :mod:`relaykit.delivery._background`) until it
        ends or :meth:`close`."""
        return self._background.start(tenant, event, recipients, data, key, deadline)

    def broadcast_status(self, broadcast_id: str) -> BroadcastStatus | None:
        """Counts by state, channel and fallback reason, rate, started and finished."""
        return self.store.broadcasts.status(broadcast_id)

    def cancel_broadcast(self, broadcast_id: str) -> bool:
        """Stop enqueuing and withdraw what is not yet sent (what was sent stays sent); a run
        in another process stops at its next chunk. False for an unknown broadcast."""
        entry = self._broadcast_runs.get(broadcast_id)
        if entry is not None:
            entry[0].stop()
        return self.store.broadcasts.cancel(broadcast_id) is not None

    # -- callbacks and sweeps -------------------------------------------------------------------

    async def handle_webhook(
        self, tenant: str, instance: str, request: CallbackRequest
    ) -> CallbackOutcome:
        """Verify a provider's webhook with the instance's connector and apply what it says.

        :raises CallbackVerificationError: the request is forged; nothing changed.
        :raises CallbackParseError: verified but not understood; nothing changed.
        """
        outcome = await self.host.handle_callback(f"{tenant}/{instance}", request)
        await self.apply_callback(tenant, instance, outcome)
        return outcome

    async def apply_callback(self, tenant: str, instance: str, outcome: CallbackOutcome) -> None:
        """Apply verified callback events; a replayed event (same ``dedupe_key``) does nothing."""
        applied = await self.callbacks.apply(tenant, instance, outcome)
        await self._continue(applied.pending)
        for plan in applied.notify:
            await self._start(plan)

    async def sweep_deadlines(self, now: datetime | None = None) -> int:
        """Move every message past its delivery deadline to its next step; returns how many.

        The next steps' messages are sent together, inline, or left to the worker.
        """
        moved = 0
        pending: list[str] = []
        for message_id in self.store.deliveries.past_deadline(now or utcnow()):
            message = self.store.deliveries.message(message_id, timeline=False)
            next_ids = (
                await self.router.move_on(message, FallbackReason.DEADLINE) if message else None
            )
            if next_ids is not None:
                moved += 1
                pending += next_ids
        await self._continue(pending)
        return moved

    async def send_due(self, limit: int = 32) -> int:
        """One attempt for each message whose (re)try is due: what inline ``notify`` left
        in the store (``serve`` runs this; a worker does the same in queued mode)."""
        if self.dispatcher.stopping:
            return 0
        claimed = await self.unit.claim_due(limit)
        await self.unit.run(claimed)
        return len(claimed)

    async def aretry_message(self, message_id: str) -> bool:
        """Re-drive a failed message of a notification that every channel failed: due now,
        with a fresh retry budget; sent at once inline, else by the worker.

        :returns: False (nothing changed) for a message that is not ``failed`` or
            ``undelivered``, or whose notification another channel still carries.
        """
        if not self.store.deliveries.redrive(message_id):
            return False
        await self._continue([message_id])
        return True

    def retry_message(self, message_id: str) -> bool:
        """The synchronous twin of :meth:`aretry_message`."""
        return self._run(self.aretry_message(message_id))

    async def _continue(self, pending: list[str]) -> None:
        """Send messages a fallback made pending (inline), or leave them to the worker."""
        if self.inline and pending:
            await self.unit.deliver_now(await self.unit.claim(pending))

    # -- plumbing -------------------------------------------------------------------------------

    def tenant(self, name: str) -> TenantSettings:
        """A tenant's settings; :class:`ConfigError` naming the configured ones if unknown."""
        return self.host.settings.tenant(name)

    def _permitted(
        self, tenant: TenantSettings, staff: StaffUser | Mapping[str, Any] | None
    ) -> StaffUser | None:
        if staff is None:
            return None
        user = staff if isinstance(staff, StaffUser) else StaffUser.model_validate(staff)
        if user.kind != "staff":
            raise NotPermittedError(f"{user.id} is a {user.kind}, not staff: only staff may send")
        if user.role not in tenant.two_way.permitted_roles:
            allowed = ", ".join(tenant.two_way.permitted_roles) or "none"
            raise NotPermittedError(
                f"staff user {user.id} has role {user.role!r}, which may not send "
                f"(permitted: {allowed})"
            )
        return user

    def _record(self, notification_id: str, *, duplicate: bool = False) -> DeliveryRecord:
        record = self.store.deliveries.get(notification_id, duplicate=duplicate)
        assert record is not None
        return record

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(coroutine)

    async def aclose(self) -> None:
        """Stop the broadcasts running as this loop's tasks (the sends in flight finish; a
        re-run resumes them), then close connectors and the store."""
        await self.astop_broadcasts()
        await self.host.aclose()
        self.store.close()

    def close(self) -> None:
        """Stop background broadcasts; close connectors, the store and the private event loop."""
        self._background.close()
        if self._runner is None:
            asyncio.run(self.aclose())
            return
        self._runner.run(self.aclose())
        self._runner.close()
        self._runner = None
