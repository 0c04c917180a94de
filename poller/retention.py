"""`run`'s pruning of dead letters past `deadletter_retention`: once at start, then daily.

The sinks do the deleting (`poller.sinks.elasticsearch._retention`,
`poller.sinks.sqlite._retention`), by the time each letter was last refused; the state, which
holds the live cursors, is never pruned. A failed pruning costs nothing but disk until the next
day's, so it is one warning, never a failed cycle or an unready daemon.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from poller.errors import PollerError
from poller.scheduler import Job

__all__ = ["PRUNE_INTERVAL_SECONDS", "DeadLetterPruner", "PrunesDeadLetters", "pruning_jobs"]

log = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 86400.0


@runtime_checkable
class PrunesDeadLetters(Protocol):
    def prune_dead_letters(self, before: datetime) -> int: ...


@dataclass(frozen=True)
class DeadLetterPruner:
    """Deletes the dead letters last refused more than `retention` before `clock()`."""

    sink: PrunesDeadLetters
    retention: timedelta
    clock: Callable[[], float] = time.time

    def __call__(self) -> None:
        before = datetime.fromtimestamp(self.clock(), UTC) - self.retention
        try:
            deleted = self.sink.prune_dead_letters(before)
        except PollerError as exc:
            log.warning("dead letters not pruned, next try in a day: %s", exc)
            return
        if deleted:
            log.info("deleted %d dead letters last refused before %s (deadletter_retention)",
                     deleted, before.isoformat(timespec="seconds"))


def pruning_jobs(sink: object, retention: timedelta) -> list[Job]:
    """The daily pruning job for `sink`, or none when it keeps no dead letters."""
    if not isinstance(sink, PrunesDeadLetters):
        return []
    return [Job(id="prune dead letters", func=DeadLetterPruner(sink, retention),
                interval_seconds=PRUNE_INTERVAL_SECONDS)]
