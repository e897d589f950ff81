"""What a broadcast's dry run found: counts a person reads before sending to a million.

:class:`DryRunTally` counts each recipient's planned messages as the dry run
goes (constant memory: counters, and the first few problems); its
:meth:`~DryRunTally.report` is the :class:`DryRunReport` the CLI prints as
tables (:meth:`DryRunReport.render`) or as JSON (:meth:`DryRunReport.as_dict`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from relaykit.delivery.pacing import pace_summary
from relaykit.results import Channel
from relaykit.store import NewMessage

__all__ = ["DryRunReport", "DryRunTally", "RowProblem", "SegmentTotals"]

#: How many bad rows (and planning errors) a report lists; all are counted.
SHOWN_PROBLEMS = 10


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that was not planned: its line in the file and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class SegmentTotals:
    """SMS of one encoding: how many messages, and the segments they are billed as."""

    messages: int
    segments: int


@dataclass(frozen=True)
class DryRunReport:
    """What a broadcast would do, recipient by recipient, without sending anything.

    :ivar total: recipients planned (bad rows not counted).
    :ivar by_channel: recipients per channel their message would go by.
    :ivar fallbacks: per channel, steps skipped before sending, by reason
        (a recipient with no number and no email counts once under each).
    :ivar unreachable: recipients no step can reach, by the reasons of their
        steps joined with ``+`` (``no_number+no_email``).
    :ivar sms_segments: SMS per encoding (``GSM-7``, ``UCS-2``).
    :ivar bad_rows: rows the file could not give as a recipient.
    :ivar errors: recipients that could not be planned (e.g. data a template refuses).
    :ivar shown_bad_rows: the first few bad rows, with their line numbers.
    :ivar rate: messages per second the first step's senders reach; ``None``: unlimited.
    :ivar paced_channel: the first step's channel, whose senders set the pace.
    :ivar eta: how long the paced channel's messages take at that rate.
    :ivar deadline: the broadcast's deadline, if any.
    :ivar policy: ``fallback`` or ``wait``, for recipients past the deadline.
    """

    total: int
    by_channel: dict[Channel, int]
    fallbacks: dict[Channel, dict[str, int]]
    unreachable: dict[str, int]
    sms_segments: dict[str, SegmentTotals]
    bad_rows: int
    errors: int
    shown_bad_rows: tuple[RowProblem, ...]
    shown_errors: tuple[RowProblem, ...]
    rate: float | None
    paced_channel: Channel
    eta: timedelta | None
    deadline: timedelta | None
    policy: str

    @property
    def unreachable_total(self) -> int:
        return sum(self.unreachable.values())

    @property
    def segments_total(self) -> int:
        return sum(totals.segments for totals in self.sms_segments.values())

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``relaykit broadcast --dry-run --json``)."""
        return {
            "total": self.total,
            "by_channel": {c.value: n for c, n in self.by_channel.items()},
            "fallbacks": {c.value: dict(r) for c, r in self.fallbacks.items()},
            "unreachable": {"total": self.unreachable_total, "by_reason": dict(self.unreachable)},
            "sms_segments": {
                "total": self.segments_total,
                "by_encoding": {
                    encoding: {"messages": t.messages, "segments": t.segments}
                    for encoding, t in self.sms_segments.items()
                },
            },
            "bad_rows": {
                "count": self.bad_rows,
                "first": [{"line": p.line, "reason": p.reason} for p in self.shown_bad_rows],
            },
            "errors": {
                "count": self.errors,
                "first": [{"line": p.line, "reason": p.reason} for p in self.shown_errors],
            },
            "pacing": {
                "channel": self.paced_channel.value,
                "rate_per_second": self.rate,
                "eta_seconds": self.eta.total_seconds() if self.eta is not None else None,
                "deadline_seconds": (
                    self.deadline.total_seconds() if self.deadline is not None else None
                ),
                "unreachable_within_deadline": self.policy,
            },
        }

    def render(self, console: Console) -> None:
        """The report as tables, for a terminal."""
        channels = Table(title=f"Dry run: {self.total:,} recipients", title_justify="left")
        channels.add_column("goes by")
        channels.add_column("recipients", justify="right")
        for channel, count in sorted(self.by_channel.items(), key=lambda item: -item[1]):
            channels.add_row(channel.value, f"{count:,}")
        for why, count in sorted(self.unreachable.items(), key=lambda item: -item[1]):
            channels.add_row(f"unreachable ({why})", f"{count:,}", style="red")
        console.print(channels)
        if self.fallbacks:
            skipped = Table(title="Steps skipped before sending", title_justify="left")
            for name in ("channel", "reason", "recipients"):
                skipped.add_column(name, justify="right" if name == "recipients" else "left")
            for channel, reasons in self.fallbacks.items():
                for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
                    skipped.add_row(channel.value, reason, f"{count:,}")
            console.print(skipped)
        if self.sms_segments:
            segments = Table(title="SMS segments", title_justify="left")
            for name in ("encoding", "messages", "segments"):
                segments.add_column(name, justify="left" if name == "encoding" else "right")
            for encoding, totals in sorted(self.sms_segments.items()):
                segments.add_row(encoding, f"{totals.messages:,}", f"{totals.segments:,}")
            segments.add_row("total", "", f"{self.segments_total:,}", style="bold")
            console.print(segments)
        console.print(self._pace_line())
        for title, count, shown in (
            ("bad rows", self.bad_rows, self.shown_bad_rows),
            ("recipients not planned", self.errors, self.shown_errors),
        ):
            if count:
                console.print(f"[yellow]{count:,} {title}[/yellow] (skipped):")
                for problem in shown:
                    console.print(f"  line {problem.line}: {problem.reason}", markup=False)

    def _pace_line(self) -> str:
        sent = self.by_channel.get(self.paced_channel, 0)
        return pace_summary(
            self.paced_channel, sent, self.rate, self.eta, self.deadline, self.policy
        )


@dataclass
class DryRunTally:
    """Counts a dry run's planned messages as they come (constant memory)."""

    by_channel: Counter[Channel] = field(default_factory=Counter)
    fallbacks: Counter[tuple[Channel, str]] = field(default_factory=Counter)
    unreachable: Counter[str] = field(default_factory=Counter)
    messages_by_encoding: Counter[str] = field(default_factory=Counter)
    segments_by_encoding: Counter[str] = field(default_factory=Counter)
    total: int = 0
    bad_rows: int = 0
    errors: int = 0
    shown_bad_rows: list[RowProblem] = field(default_factory=list)
    shown_errors: list[RowProblem] = field(default_factory=list)

    def planned(self, messages: Sequence[NewMessage]) -> Channel | None:
        """Count one recipient's planned messages; returns the channel it would go by."""
        self.total += 1
        last = messages[-1] if messages else None
        for message in messages:
            if message.status == "skipped":
                self.fallbacks[(message.channel, message.fallback_reason or "")] += 1
        if last is None or last.status == "skipped":
            self.unreachable["+".join(m.fallback_reason or "" for m in messages) or "no_steps"] += 1
            return None
        self.by_channel[last.channel] += 1
        if last.channel == Channel.SMS and last.encoding is not None:
            self.messages_by_encoding[last.encoding] += 1
            self.segments_by_encoding[last.encoding] += last.segments or 0
        return last.channel

    def bad_row(self, line: int, reason: str) -> None:
        self.bad_rows += 1
        if len(self.shown_bad_rows) < SHOWN_PROBLEMS:
            self.shown_bad_rows.append(RowProblem(line, reason))

    def error(self, line: int, reason: str) -> None:
        self.errors += 1
        if len(self.shown_errors) < SHOWN_PROBLEMS:
            self.shown_errors.append(RowProblem(line, reason))

    def report(
        self,
        *,
        rate: float | None,
        paced_channel: Channel,
        eta: timedelta | None,
        deadline: timedelta | None,
        policy: str,
    ) -> DryRunReport:
        fallbacks: dict[Channel, dict[str, int]] = {}
        for (channel, reason), count in self.fallbacks.items():
            fallbacks.setdefault(channel, {})[reason] = count
        return DryRunReport(
            total=self.total,
            by_channel=dict(self.by_channel),
            fallbacks=fallbacks,
            unreachable=dict(self.unreachable),
            sms_segments={
                encoding: SegmentTotals(count, self.segments_by_encoding[encoding])
                for encoding, count in self.messages_by_encoding.items()
            },
            bad_rows=self.bad_rows,
            errors=self.errors,
            shown_bad_rows=tuple(self.shown_bad_rows),
            shown_errors=tuple(self.shown_errors),
            rate=rate,
            paced_channel=paced_channel,
            eta=eta,
            deadline=deadline,
            policy=policy,
        )
