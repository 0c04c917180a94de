"""Costs documents: one per result of a daily costs bucket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from poller.documents.buckets import bucket_source
from poller.documents.common import MappingContext, make_document
from poller.documents.model import Document

__all__ = ["map_costs_result"]


def map_costs_result(
    ctx: MappingContext, start_time: int, end_time: int, result: Mapping[str, Any]
) -> Document:
    """The document of one costs `result`; `amount.value` becomes a number even when the API
    sent a string such as "12.50"."""
    source, doc_id = bucket_source(ctx, "costs", start_time, end_time, result)
    return make_document("costs", ctx, doc_id, source)
