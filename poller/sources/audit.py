"""The audit source: a frozen `effective_at` window, paged with `after`, deduplicated by id.

The API's order is undocumented, so the source never resumes from a page cursor. It reads the
window `[high_water - overlap, now)` every cycle; documents keyed by audit id make the overlap
harmless. The high-water mark moves only in the batch after the window's last page, i.e. only
once every event of the window has been acknowledged: a crash mid-window re-reads the window.

Audit documents carry no directory names, so these sources take no names snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from poller.documents import map_audit_page
from poller.pipeline import Batch
from poller.settings import StreamConfig
from poller.sources._base import BackfillWindow, OrgAccess, OrgSource, seconds
from poller.state import StreamState

__all__ = ["AuditSource", "AuditWindow", "CycleAudit", "backfill_source", "cycle_source"]


@dataclass(frozen=True)
class AuditWindow:
    """`[gte, lt)` in Unix seconds. `move_high_water`: a daemon cycle moves the mark; a
    backfill only sets it when the stream has none yet."""

    gte: int
    lt: int
    move_high_water: bool = True


@dataclass(frozen=True)
class AuditSource(OrgSource):
    window: AuditWindow
    stream: str = "audit"

    def batches(self, state: StreamState) -> Iterator[Batch]:
        newest: int | None = None
        context = self.access.context
        pages = self.access.client.audit_log_pages(
            effective_at={"gte": self.window.gte, "lt": self.window.lt}, limit=100
        )
        for page in pages:
            mapped = map_audit_page(context, page)
            for log in page.data:
                newest = log.effective_at if newest is None else max(newest, log.effective_at)
            yield Batch(mapped.documents, rejected=mapped.rejected)
        mark = max(newest if newest is not None else self.window.gte, self.window.gte)
        if self.window.move_high_water or state.high_water is None:
            yield Batch((), advance=_high_water(mark))


def _high_water(mark: int) -> Callable[[StreamState], StreamState]:
    def advance(state: StreamState) -> StreamState:
        old = state.high_water
        return replace(state, high_water=mark if old is None else max(old, mark))

    return advance


@dataclass(frozen=True)
class CycleAudit(OrgSource):
    """A daemon cycle's audit source: its window depends on the saved high-water mark. The
    first window reaches back `initial_interval`; later ones overlap the mark by `overlap`."""

    now: int
    initial_interval: int
    overlap: int
    stream: str = "audit"

    def batches(self, state: StreamState) -> Iterator[Batch]:
        if state.high_water is None:
            start = self.now - self.initial_interval
        else:
            start = state.high_water - self.overlap
        return AuditSource(self.access, AuditWindow(start, self.now)).batches(state)


def cycle_source(access: OrgAccess, stream: StreamConfig, now: int) -> CycleAudit:
    return CycleAudit(access, now, seconds(stream.initial_interval), seconds(stream.overlap))


def backfill_source(
    access: OrgAccess, stream: StreamConfig, window: BackfillWindow
) -> AuditSource:
    """The window up to now; it sets the high-water mark only when the stream has none yet."""
    lt = min(window.until, window.now)
    return AuditSource(access, AuditWindow(window.since, lt, move_high_water=False))
