"""Costs documents: one per result of a daily costs bucket."""

from __future__ import annotations

from poller.client.models import UsageResult
from poller.documents.buckets import bucket_source
from poller.documents.common import MappingContext, make_document
from poller.documents.model import Document
from poller.streams import StreamName

__all__ = ["map_costs_result"]


def map_costs_result(
    ctx: MappingContext, start_time: int, end_time: int, result: UsageResult
) -> Document:
    """The document of one costs `result` (a `CostsResult`, or the permissive base model when
    its `object` is one the client does not know); `amount.value` becomes a number even when
    the API sent a string such as "12.50"."""
    source, doc_id = bucket_source(ctx, StreamName.COSTS, start_time, end_time, result.api_dict())
    return make_document(StreamName.COSTS, ctx, doc_id, source)
