"""The usage and costs source: fetches planned bucket segments page by page.

Each API page becomes one or more batches (`CHUNK_RESULTS`), and committing its last records the
buckets the page held as covered, so an interrupted run (a crash, SIGTERM, an outage) resumes
after the last acknowledged page; a page cut short is fetched again (same ids).

Each segment is fetched and mapped in its own shape (`poller.coverage.Shape`): a re-read of a
stored stretch asks the grouping it was stored with and keeps its org id, so its documents keep
their ids; only what was never collected takes the configured shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Final

from poller.client import RawUsagePage, UsagePage
from poller.coverage import Coverage, Segment
from poller.documents import MappingContext, map_usage_page
from poller.documents.fields import NAME_FIELDS
from poller.pipeline import Batch, keep_state
from poller.settings import StreamConfig
from poller.sources._base import BackfillWindow, OrgAccess, OrgSource, seconds
from poller.sources.plans import backfill_segments, cycle_segments
from poller.state import StreamState
from poller.streams import BucketWidth, get_stream

__all__ = ["BucketSource", "backfill_source", "canonical_group_by", "cycle_source"]

Plan = Callable[[Coverage], list[Segment]]
Advance = Callable[[StreamState], StreamState]

# Results mapped and written at once. A page's documents cost more than its parsed results
# (measured on the large org: ~8 KB a result, as documents and the sink's rows), so a page is
# written in batches of this many; the page's own results are bounded by the client's page
# size and the process's results budget.
CHUNK_RESULTS: Final = 2_000


@dataclass(frozen=True)
class BucketSource(OrgSource):
    """One usage stream, or costs, of one org. `plan` picks the segments from the coverage;
    `group_by` is the configured grouping, what the segments not yet collected take."""

    stream: str
    plan: Plan
    group_by: tuple[str, ...]

    @property
    def grouping(self) -> tuple[str, ...]:
        """`group_by` in the stream's dimension order, as ids and coverage record it."""
        return canonical_group_by(self.stream, self.group_by)

    def batches(self, state: StreamState) -> Iterator[Batch]:
        context = _RunContext(self.access)
        shape = (self.grouping, self.access.context.organization_id)
        for segment in self.plan(state.coverage.resolved(*shape)):
            yield from self._segment(context, segment.resolved(*shape))

    def _segment(self, run: _RunContext, segment: Segment) -> Iterator[Batch]:
        limit = get_stream(self.stream).page_limit(segment.width)
        group_by = segment.group_by if segment.group_by is not None else self.grouping
        org_id = segment.organization_id or self.access.context.organization_id
        pages = self.access.client.usage_pages(
            self.stream,
            start_time=segment.start,
            end_time=segment.end,
            bucket_width=segment.width,
            group_by=group_by,
            limit=limit,
        )
        covered_until = segment.start

        def context(part: UsagePage) -> MappingContext:
            return replace(
                run.context(part), bucket_width=segment.width, group_by=group_by,
                organization_id=org_id,
            )

        try:
            for page in pages:
                page_end = min(
                    page.end_time if page.end_time is not None else covered_until, segment.end
                )
                advance: Advance = keep_state
                if page_end > covered_until:
                    advance = _cover(segment.span(covered_until, page_end))
                    covered_until = page_end
                yield from _page_batches(context, self.stream, page, advance)
        finally:
            # However this ends, a page the client holds leaves the process's results budget
            # now, not when a traceback that keeps this frame alive is collected.
            close = getattr(pages, "close", None)
            if close is not None:
                close()


def _page_batches(
    context: Callable[[UsagePage], MappingContext],
    stream: str,
    page: RawUsagePage,
    advance: Advance,
) -> Iterator[Batch]:
    """One page as batches of at most about `CHUNK_RESULTS` results (whole buckets), parsed
    and mapped one after the other (`RawUsagePage.take`): only the last carries `advance`, so
    the page is covered once all of it is acknowledged. So a page exists as models, documents
    and the sink's rows one batch at a time, and as decoded JSON until then. The results of a
    batch that fail their schema go with it (`Batch.rejected`): each is dead-lettered before
    or with the batch that covers its page."""
    while True:
        part = page.take(CHUNK_RESULTS)
        mapped = map_usage_page(context(part), stream, part)
        del part
        if not page:
            yield Batch(mapped.documents, advance=advance, rejected=mapped.rejected)
            return
        yield Batch(mapped.documents, rejected=mapped.rejected)


class _RunContext:
    """One run's mapping context. Its names are one snapshot, taken before the first result
    that carries a project, user or key id is mapped: mapping never lists the directory, and
    a run that maps no such id (nothing due, ungrouped results, a key OpenAI refuses at the
    first page) does not list it either."""

    def __init__(self, access: OrgAccess) -> None:
        self._access = access
        self._context = access.context
        self._named = False

    def context(self, part: UsagePage) -> MappingContext:
        if not self._named and any(
            isinstance(getattr(result, dimension, None), str)
            for bucket in part.data
            for result in bucket.results
            for dimension in NAME_FIELDS
        ):
            self._context = self._access.mapping()
            self._named = True
        return self._context


def canonical_group_by(stream: str, group_by: tuple[str, ...]) -> tuple[str, ...]:
    usage = get_stream(stream).usage
    dimensions = usage.dimensions if usage is not None else ()
    return tuple(d for d in dimensions if d in group_by)


def _cover(segment: Segment) -> Advance:
    """Record `segment` (fully shaped); legacy segments take its shape's grouping and org id,
    which is what they were collected with when nothing changed since."""

    def advance(state: StreamState) -> StreamState:
        group_by, org_id = segment.group_by or (), segment.organization_id or ""
        coverage = state.coverage.resolved(group_by, org_id)
        return replace(state, coverage=coverage.add(segment))

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
    width = stream.spec.fixed_width or window.width
    plan = _BackfillPlan(
        window, width, seconds(stream.settlement_grace), seconds(stream.settlement_window)
    )
    return BucketSource(access, stream.name, plan, stream.group_by)
