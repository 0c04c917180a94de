"""The usage and costs source: fetches planned bucket segments page by page.

Each API page becomes one batch, and committing a batch records the buckets it held as covered,
so an interrupted run (a crash, SIGTERM, an outage) resumes after the last acknowledged page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from poller.client.api import AdminClient
from poller.client.models import UsagePage
from poller.coverage import Coverage, Segment
from poller.documents import MappingContext, map_costs_result, map_usage_result
from poller.documents.model import Document
from poller.pipeline import Batch
from poller.state import StreamState
from poller.streams import COSTS_MAX_LIMIT, MAX_LIMIT

__all__ = ["BucketSource"]

Plan = Callable[[Coverage], list[Segment]]


@dataclass(frozen=True)
class BucketSource:
    """One usage stream, or costs, of one org. `plan` picks the segments from the coverage."""

    org: str
    stream: str
    client: AdminClient
    context: MappingContext
    plan: Plan
    group_by: tuple[str, ...]
    filters: Mapping[str, Sequence[str] | bool] | None = None

    def batches(self, state: StreamState) -> Iterator[Batch]:
        for segment in self.plan(state.coverage):
            yield from self._segment(segment)

    def _segment(self, segment: Segment) -> Iterator[Batch]:
        context = replace(self.context, bucket_width=segment.width, group_by=self.group_by)
        limit = COSTS_MAX_LIMIT if self.stream == "costs" else MAX_LIMIT[segment.width]
        pages = self.client.usage_pages(
            self.stream,
            start_time=segment.start,
            end_time=segment.end,
            bucket_width=segment.width,
            group_by=self.group_by,
            limit=limit,
            filters=self.filters,
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
