"""Whole pages to documents: what a source writes for one page of the API, and what it rejects.

Each item is mapped on its own: an item the schema rejected (the page's `invalid`) or that the
mapper cannot place (`MappingError`) becomes a `Rejected` entry for the dead-letter store, and
the page's other items still become documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from poller.client.audit import AuditLogPage
from poller.client.directory import Project, ProjectRateLimitPage
from poller.client.models import APIModel, ItemPage, UsageBucket, UsagePage, UsageResult
from poller.documents.audit import map_audit_log
from poller.documents.common import MappingContext
from poller.documents.costs import map_costs_result
from poller.documents.model import Document, Rejected
from poller.documents.rate_limits import map_rate_limit
from poller.documents.rejected import rejected
from poller.documents.usage import map_usage_result
from poller.errors import MappingError
from poller.streams import StreamKind, StreamName, get_stream

__all__ = ["Mapped", "map_audit_page", "map_rate_limit_page", "map_usage_page"]

T = TypeVar("T")
BucketResult = tuple[UsageBucket, UsageResult]


@dataclass(frozen=True)
class Mapped:
    """One page's documents, and the items no document could be built from (for
    `Batch.rejected`)."""

    documents: tuple[Document, ...]
    rejected: tuple[Rejected, ...]


def map_usage_page(ctx: MappingContext, stream: str, page: UsagePage) -> Mapped:
    """The documents of one page of a usage stream or of costs; `ctx` describes the request
    that returned it (its `bucket_width` and `group_by`)."""
    kind = get_stream(stream).kind
    if kind is StreamKind.USAGE:

        def one(item: BucketResult) -> Document:
            bucket, result = item
            return map_usage_result(ctx, stream, bucket.start_time, bucket.end_time, result)

    elif kind is StreamKind.COSTS:

        def one(item: BucketResult) -> Document:
            bucket, result = item
            return map_costs_result(ctx, bucket.start_time, bucket.end_time, result)

    else:
        raise ValueError(f"{stream} is not a bucketed stream")
    items = ((bucket, result) for bucket in page.data for result in bucket.results)
    return _map(stream, ctx, page, items, one=one, model=lambda item: item[1])


def map_audit_page(ctx: MappingContext, page: AuditLogPage) -> Mapped:
    """The documents of one page of audit logs."""
    return _map(
        StreamName.AUDIT, ctx, page, page.data, one=lambda log: map_audit_log(ctx, log),
        model=_itself,
    )


def map_rate_limit_page(
    ctx: MappingContext, page: ProjectRateLimitPage, project: Project, slot_start: int
) -> Mapped:
    """The documents of one page of `project`'s rate limits, collected in the slot starting at
    `slot_start`."""
    return _map(
        StreamName.RATE_LIMITS,
        ctx,
        page,
        page.data,
        one=lambda limit: map_rate_limit(ctx, limit, project, slot_start),
        model=_itself,
    )


def _itself(model: APIModel) -> APIModel:
    return model


def _map(
    stream: str,
    ctx: MappingContext,
    page: ItemPage,
    items: Iterable[T],
    *,
    one: Callable[[T], Document],
    model: Callable[[T], APIModel],
) -> Mapped:
    """Map `items` one by one; the page's invalid items, then each item `one` cannot map (kept
    as its `model` parsed it), are rejected."""
    documents: list[Document] = []
    rejects = [rejected(stream, ctx, item.raw, item.reason) for item in page.invalid]
    for item in items:
        try:
            documents.append(one(item))
        except MappingError as exc:
            raw = model(item).model_dump(mode="json", exclude_unset=True)
            rejects.append(rejected(stream, ctx, raw, str(exc)))
    return Mapped(tuple(documents), tuple(rejects))
