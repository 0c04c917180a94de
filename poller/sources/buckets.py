"""The usage and costs source: fetches planned bucket segments page by page.

Each API page becomes one batch, and committing a batch records the buckets it held as covered,
so an interrupted run (a crash, SIGTERM, an outage) resumes after the last acknowledged page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial

from poller.client.models import UsagePage
from poller.coverage import Coverage, Segment
from poller.documents import MappingContext, map_costs_result, map_usage_result
from poller.documents.model import Document
from poller.pipeline import Batch
from poller.settings import StreamConfig
from poller.sources._base import BackfillWindow, OrgAccess, OrgSource, seconds
from poller.sources.plans import backfill_segments, cycle_segments
from poller.state import StreamState
from poller.streams import COSTS_MAX_LIMIT, MAX_LIMIT, BucketWidth, StreamKind

__all__ = ["BucketSource", "backfill_source", "cycle_source"]

Plan = Callable[[Coverage], list[Segment]]


@dataclass(frozen=True)
class BucketSource(OrgSource):
    """One usage stream, or costs, of one org. `plan` picks the segments from the coverage."""

    stream: str
    plan: Plan
    group_by: tuple[str, ...]

    def batches(self, state: StreamState) -> Iterator[Batch]:
        segments = self.plan(state.coverage)
        if not segments:
            return
        context = self.access.mapping()  # one names snapshot for the whole run
        for segment in segments:
            yield from self._segment(context, segment)

    def _segment(self, base: MappingContext, segment: Segment) -> Iterator[Batch]:
        context = replace(base, bucket_width=segment.width, group_by=self.group_by)
        limit = COSTS_MAX_LIMIT if self.stream == "costs" else MAX_LIMIT[segment.width]
        pages = self.access.client.usage_pages(
            self.stream,
            start_time=segment.start,
            end_time=segment.end,
            bucket_width=segment.width,
            group_by=self.group_by,
            limit=limit,
        )
        covered_until = segment.start
        for page in pages:
            documents = self._documents(context, page)
            page_end = min(max((b.end_time for b in page.data), default=covered_until), segment.end)
            if page_end <= covered_until:
                yield Batch(documents)
                continue
            covered = Segment(covered_until, page_end, segment.width)
            covered_until = page_end
            yield Batch(documents, advance=_cover(covered))

    def _documents(self, context: MappingContext, page: UsagePage) -> list[Document]:
        documents: list[Document] = []
        for bucket in page.data:
            for result in bucket.results:
                data = result.api_dict()
                if self.stream == "costs":
                    doc = map_costs_result(context, bucket.start_time, bucket.end_time, data)
                else:
                    doc = map_usage_result(
                        context, self.stream, bucket.start_time, bucket.end_time, data
                    )
                documents.append(doc)
        return documents


def _cover(segment: Segment) -> Callable[[StreamState], StreamState]:
    def advance(state: StreamState) -> StreamState:
        return replace(state, coverage=state.coverage.add(segment))

    return advance


def cycle_source(access: OrgAccess, stream: StreamConfig, now: int) -> BucketSource:
    """One daemon cycle: the settlement window again, then on from where coverage ends."""
    plan = partial(
        cycle_segments,
        now=now,
        width=stream.bucket_width,
        initial_interval=seconds(stream.initial_interval),
        grace=seconds(stream.settlement_grace),
        settlement_window=seconds(stream.settlement_window),
    )
    return BucketSource(access, stream.name, plan, stream.group_by)


@dataclass(frozen=True)
class _BackfillPlan:
    window: BackfillWindow
    width: BucketWidth | None
    grace: int
    settlement_window: int

    def __call__(self, coverage: Coverage) -> list[Segment]:
        # Re-read what may still be revised: the window before now, and the window before
        # the newest collected bucket (which may be older than now when the daemon is off).
        now = self.window.now
        newest = min(now, coverage.end if coverage.end is not None else now)
        return backfill_segments(
            coverage,
            since=self.window.since,
            until=self.window.until,
            now=now,
            grace=self.grace,
            width=self.width,
            reread_from=newest - self.settlement_window,
        )


def backfill_source(
    access: OrgAccess, stream: StreamConfig, window: BackfillWindow
) -> BucketSource:
    """The gaps of the window, and the covered buckets that may still be revised."""
    width = BucketWidth.DAY if stream.spec.kind is StreamKind.COSTS else window.width
    plan = _BackfillPlan(
        window, width, seconds(stream.settlement_grace), seconds(stream.settlement_window)
    )
    return BucketSource(access, stream.name, plan, stream.group_by)
