"""The audit source: a frozen `effective_at` window, paged with `after`, deduplicated by id.

The API's order is undocumented, so the source never resumes from a page cursor. It reads the
window `[high_water - overlap, now)` every cycle; documents keyed by audit id make the overlap
harmless. The high-water mark moves only in the batch after the window's last page, i.e. only
once every event of the window has been acknowledged: a crash mid-window re-reads the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from poller.client.api import AdminClient
from poller.documents import MappingContext, map_audit_log
from poller.pipeline import Batch
from poller.state import StreamState

__all__ = ["AuditSource", "AuditWindow"]


@dataclass(frozen=True)
class AuditWindow:
    """`[gte, lt)` in Unix seconds. `move_high_water`: a daemon cycle moves the mark; a
    backfill only sets it when the stream has none yet."""

    gte: int
    lt: int
    move_high_water: bool = True


@dataclass(frozen=True)
class AuditSource:
    org: str
    client: AdminClient
    context: MappingContext
    window: AuditWindow
    stream: str = "audit"

    def batches(self, state: StreamState) -> Iterator[Batch]:
        newest: int | None = None
        pages = self.client.audit_log_pages(
            effective_at={"gte": self.window.gte, "lt": self.window.lt}, limit=100
        )
        for page in pages:
            documents = [map_audit_log(self.context, log.api_dict()) for log in page.data]
            for log in page.data:
                newest = log.effective_at if newest is None else max(newest, log.effective_at)
            yield Batch(documents)
        mark = max(newest if newest is not None else self.window.gte, self.window.gte)
        if self.window.move_high_water or state.high_water is None:
            yield Batch((), advance=_high_water(mark))


def _high_water(mark: int) -> Callable[[StreamState], StreamState]:
    def advance(state: StreamState) -> StreamState:
        old = state.high_water
        return replace(state, high_water=mark if old is None else max(old, mark))

    return advance
