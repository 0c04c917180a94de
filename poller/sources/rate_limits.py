"""The rate-limits source: a snapshot of every active project's limits per collection slot.

The slot (the interval the snapshot belongs to) is part of each document's id, so collecting
twice within one slot rewrites the same documents instead of adding a second snapshot.
Rate-limit documents carry no directory names, so this source takes no names snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from poller.coverage import align_down
from poller.documents import map_rate_limit
from poller.pipeline import Batch
from poller.settings import StreamConfig
from poller.sources._base import BackfillWindow, OrgAccess, OrgSource, seconds
from poller.state import StreamState
from poller.streams import BucketWidth

__all__ = ["RateLimitSource", "backfill_source", "cycle_source", "slot_start"]


@dataclass(frozen=True)
class RateLimitSource(OrgSource):
    slot_start: int
    stream: str = "rate_limits"

    def batches(self, state: StreamState) -> Iterator[Batch]:
        client, context = self.access.client, self.access.context
        for project in client.list_projects(include_archived=False):
            project_data = project.api_dict()
            documents = [
                map_rate_limit(context, limit.api_dict(), project_data, self.slot_start)
                for limit in client.list_project_rate_limits(project.id)
            ]
            yield Batch(documents)
        yield Batch((), advance=_slot(self.slot_start))


def _slot(slot_start: int) -> Callable[[StreamState], StreamState]:
    def advance(state: StreamState) -> StreamState:
        return replace(state, last_slot=slot_start)

    return advance


def slot_start(now: int, interval: int) -> int:
    """The start of the slot `now` falls in: a whole minute, on a multiple of `interval`."""
    slot = align_down(now, BucketWidth.MINUTE)
    return slot - slot % interval


def cycle_source(access: OrgAccess, stream: StreamConfig, now: int) -> RateLimitSource:
    return RateLimitSource(access, slot_start(now, seconds(stream.interval)))


def backfill_source(
    access: OrgAccess, stream: StreamConfig, window: BackfillWindow
) -> RateLimitSource:
    """A snapshot stream has no past to collect: one snapshot, now."""
    return cycle_source(access, stream, window.now)
