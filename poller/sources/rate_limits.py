"""The rate-limits source: a snapshot of every active project's limits per collection slot,
written whole or not at all.

The slot (the interval the snapshot belongs to) is part of each document's id, so collecting
twice within one slot rewrites the same documents instead of adding a second snapshot.
Rate-limit documents carry no directory names, so this source takes no names snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from poller.coverage import align_down
from poller.documents import map_rate_limit_page
from poller.documents.model import Document, Rejected
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
        documents: list[Document] = []
        rejected: list[Rejected] = []
        for project in client.list_projects(include_archived=False):
            for page in client.project_rate_limit_pages(project.id):
                mapped = map_rate_limit_page(context, page, project, self.slot_start)
                documents += mapped.documents
                rejected += mapped.rejected
        # One batch for the whole slot, written only once every project's limits were read:
        # a failure part way leaves no slot half-filled (a few hundred documents at most).
        yield Batch(documents, advance=_slot(self.slot_start), rejected=rejected)


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
