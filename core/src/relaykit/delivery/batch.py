"""What delivering messages led to: one typed result per message, and counts for progress.

A :class:`BatchResult` is what :class:`~relaykit.delivery.unit.DeliverMessages`
returns to whoever runs it - ``notify``, ``relaykit worker``, a bulk send, a
task queue - so a caller reports progress or decides what comes next from it,
without reading the store back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from relaykit.delivery.reasons import FallbackReason
from relaykit.store import MessageRecord

__all__ = [
    "Accepted",
    "AttemptResult",
    "BatchResult",
    "Deferred",
    "MovedOn",
    "Retry",
    "Unknown",
]


@dataclass(frozen=True)
class Accepted:
    """The provider took the message.

    :ivar settled: the message as now stored (its timeline too when the claim carried
        it), or ``None`` when a faster status callback got there first: then only the
        store can tell.
    """

    message_id: str
    settled: MessageRecord | None = None


@dataclass(frozen=True)
class Retry:
    """A transient failure: the message is due again ``at``."""

    message_id: str
    at: datetime


@dataclass(frozen=True)
class Deferred:
    """relaykit's own rate limit held the message back before any provider call: due again
    ``at``, with none of its attempts used."""

    message_id: str
    at: datetime


@dataclass(frozen=True)
class MovedOn:
    """The message failed for good and its notification moved on (or had already).

    :ivar next_messages: the messages of the next step now pending, to send.
    :ivar moved: ``False`` when the notification had moved on from this message before
        (a deadline passed during the send): nothing new is pending.
    """

    message_id: str
    reason: FallbackReason
    next_messages: tuple[str, ...] = ()
    moved: bool = True


@dataclass(frozen=True)
class Unknown:
    """Maybe sent, and the provider could not be asked: the attempt stays in flight until
    recovery settles it."""

    message_id: str


AttemptResult = Accepted | Retry | Deferred | MovedOn | Unknown


@dataclass(frozen=True)
class BatchResult:
    """One result per attempt, in the order the attempts finished."""

    results: tuple[AttemptResult, ...] = ()

    @classmethod
    def of(cls, parts: Iterable[BatchResult | AttemptResult]) -> BatchResult:
        """One result out of several batches' and single attempts' results."""
        results: list[AttemptResult] = []
        for part in parts:
            results.extend(part.results if isinstance(part, BatchResult) else (part,))
        return cls(tuple(results))

    def __len__(self) -> int:
        return len(self.results)

    def _count(self, kind: type) -> int:
        return sum(isinstance(result, kind) for result in self.results)

    @property
    def accepted(self) -> int:
        return self._count(Accepted)

    @property
    def retrying(self) -> int:
        return self._count(Retry)

    @property
    def deferred(self) -> int:
        return self._count(Deferred)

    @property
    def moved_on(self) -> int:
        return self._count(MovedOn)

    @property
    def unknown(self) -> int:
        return self._count(Unknown)

    @property
    def next_messages(self) -> list[str]:
        """Every message the batch's fallbacks made pending, to send next."""
        return [i for r in self.results if isinstance(r, MovedOn) for i in r.next_messages]
