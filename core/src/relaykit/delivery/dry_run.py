"""A broadcast's dry run: plan every recipient with the real rules, send nothing, store nothing.

Each recipient goes through the same :class:`~relaykit.delivery.planner.Planner`
and :data:`~relaykit.delivery.planner.SKIP_RULES` as a real send, at one
moment (``now``: quiet hours as they are now), with the broadcast's pacing
(:class:`~relaykit.delivery.pacing.BroadcastPacing`: recipients past the
deadline skip the paced channel when the tenant's policy says ``fallback``).
The planner reads a snapshot taken once (:class:`~relaykit.delivery.dry_run_reads.DryRunReads`),
never the database per recipient, and what earlier recipients of the run
would use of a monthly limit counts against the later ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from relaykit.addresses import AddressKind
from relaykit.delivery.addresses import AddressBook
from relaykit.delivery.dry_run_reads import DryRunReads
from relaykit.delivery.dry_run_report import DryRunReport, DryRunTally
from relaykit.delivery.pacing import BroadcastPacing
from relaykit.delivery.planner import Plan, Planner, month_of
from relaykit.delivery.relay import Relay
from relaykit.errors import RelaykitError
from relaykit.recipients import Recipient
from relaykit.results import Channel
from relaykit.templates import TemplatePart

__all__ = ["BadRowLike", "DryRunRow", "RecipientRowLike", "plan_broadcast"]


class RecipientRowLike(Protocol):
    """A recipient read from a file (``relaykit.recipient_files.RecipientRow``)."""

    @property
    def line(self) -> int: ...

    @property
    def recipient(self) -> Recipient: ...

    @property
    def data(self) -> Mapping[str, Any]: ...


class BadRowLike(Protocol):
    """A row that is no recipient (``relaykit.recipient_files.BadRow``)."""

    @property
    def line(self) -> int: ...

    @property
    def reason(self) -> str: ...


#: What a dry run takes, one per recipient: a parsed file row (good or bad), a recipient
#: (or its mapping), or a ``(recipient, per-recipient data)`` pair.
DryRunRow = (
    RecipientRowLike
    | BadRowLike
    | Recipient
    | Mapping[str, Any]
    | tuple[Recipient | Mapping[str, Any], Mapping[str, Any]]
)


def plan_broadcast(
    relay: Relay,
    tenant: str,
    event: str,
    rows: Iterable[DryRunRow],
    data: Mapping[str, Any] | None = None,
    *,
    deadline: timedelta | None = None,
    now: datetime | None = None,
) -> DryRunReport:
    """What a broadcast of ``event`` to ``rows`` would do, without sending or storing anything.

    :param data: template data for every recipient; a row's own data is laid over it.
    :param deadline: the broadcast's; ``None`` takes the route's, if any.
    :param now: the moment planned for (quiet hours, the month of a monthly limit).
    :raises ConfigError: unknown tenant, or no route for the event.
    :raises TemplateError: an unknown event.
    """
    settings = relay.tenant(tenant)
    pacing = BroadcastPacing.for_event(relay.host.settings, tenant, event, deadline)
    spec = relay.templates.event(event, tenant)  # an unknown event fails before any row
    shared = dict(data or {})
    reads = DryRunReads(relay.store, tenant)
    live = relay.router.planner
    planner = _RenderOncePlanner(
        reads,
        live.templates,
        live.health,
        live.reports_delivery,
        live.rules,
        addresses=_KindsOnce(live.addresses),
    )
    moment = now or datetime.now(UTC)
    month = month_of(moment, settings.time_zone)
    tally = DryRunTally()
    checked: Mapping[str, Any] | None = None
    for index, row in enumerate(rows, start=1):
        read = _read(row, index)
        if isinstance(read, str):
            tally.bad_row(getattr(row, "line", index), read)
            continue
        line, recipient, own = read
        merged = {**shared, **own} if own else shared
        skip = pacing.skipped_channels(tally.total)
        try:
            if merged is not checked:  # the same data for every row is checked once
                spec.checked_data(merged)
                checked = merged
            messages = planner.plan(
                Plan.build(tenant, settings, event, recipient, merged, skip=skip), 0, moment
            )
        except RelaykitError as exc:
            tally.error(line, str(exc))
            continue
        channel = tally.planned(messages)
        if channel is not None:
            reads.use(month, channel.value)
    sent = tally.by_channel.get(pacing.channel, 0)
    return tally.report(
        rate=pacing.rate,
        paced_channel=pacing.channel,
        eta=pacing.eta(sent),
        deadline=pacing.deadline,
        policy=pacing.policy,
    )


#: Distinct (event, part, data) renderings a dry run keeps; past it, it starts again.
_RENDERINGS = 4096


class _RenderOncePlanner(Planner):
    """The planner, rendering each part once per distinct data: a broadcast's recipients
    mostly share their data, and rendering depends on nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rendered: dict[tuple[object, ...], str] = {}
        self._plan: Plan | None = None
        self._data_key: tuple[object, ...] | None = None

    def render(self, plan: Plan, part: TemplatePart) -> str:
        if plan is not self._plan:  # a recipient's parts share its data's key
            self._plan = plan
            try:
                self._data_key = tuple(sorted(plan.data.items()))
                hash(self._data_key)
            except TypeError:  # an unhashable value: a template will refuse it anyway
                self._data_key = None
        if self._data_key is None:
            return super().render(plan, part)
        key = (plan.event, part, self._data_key)
        text = self._rendered.get(key)
        if text is None:
            if len(self._rendered) >= _RENDERINGS:
                self._rendered.clear()
            text = self._rendered[key] = super().render(plan, part)
        return text


class _KindsOnce:
    """An address book that looks each instance's address kind up once per run."""

    def __init__(self, book: AddressBook) -> None:
        self.book = book
        self._kinds: dict[tuple[str, Channel], AddressKind | None] = {}

    def address_kind(self, label: str, channel: Channel) -> AddressKind | None:
        key = (label, channel)
        if key not in self._kinds:
            self._kinds[key] = self.book.address_kind(label, channel)
        return self._kinds[key]

    def normalize(self, label: str, kind: AddressKind, raw: str) -> str:
        return self.book.normalize(label, kind, raw)


def _read(row: DryRunRow, index: int) -> tuple[int, Recipient, Mapping[str, Any]] | str:
    """``(line, recipient, its own data)``, or why the row is no recipient."""
    if isinstance(row, Recipient):
        return index, row, {}
    if isinstance(row, tuple):
        person, own = row
        return _validated(person, index, own)
    if isinstance(row, Mapping):
        return _validated(row, index, {})
    reason = getattr(row, "reason", None)
    if isinstance(reason, str):
        return reason
    good: RecipientRowLike = row  # type: ignore[assignment]
    return good.line, good.recipient, good.data


def _validated(
    person: Recipient | Mapping[str, Any], index: int, own: Mapping[str, Any]
) -> tuple[int, Recipient, Mapping[str, Any]] | str:
    if isinstance(person, Recipient):
        return index, person, own
    try:
        return index, Recipient.model_validate(person), own
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "recipient"
        return f"{where}: {first['msg']}"
