"""Usage documents: one per result of a usage bucket, for the ten usage streams."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from poller.client.models import UsageResult
from poller.documents.buckets import bucket_source
from poller.documents.common import MappingContext, make_document
from poller.documents.fields import USAGE_TOTALS
from poller.documents.model import Document
from poller.streams import StreamKind, get_stream

__all__ = ["map_usage_result"]


def map_usage_result(
    ctx: MappingContext, stream: str, start_time: int, end_time: int, result: UsageResult
) -> Document:
    """The document of one usage `result` of the bucket [start_time, end_time)."""
    if get_stream(stream).kind is not StreamKind.USAGE:
        raise ValueError(f"{stream} is not a usage stream")
    data = result.api_dict()
    source, doc_id = bucket_source(ctx, stream, start_time, end_time, data)
    _add_total(source, stream)
    _add_estimate(source, ctx, stream, start_time, data)
    return make_document(stream, ctx, doc_id, source)


def _add_total(source: dict[str, Any], stream: str) -> None:
    """Elastic's `openai.base.usage_tokens` / `usage_images`, summed as its pipelines do (the
    completions sum adds audio tokens to input_tokens, which already counts them: kept as is,
    since its headroom queries and dashboards expect that number)."""
    if stream not in USAGE_TOTALS:
        return
    total, fields = USAGE_TOTALS[stream]
    counts = source["openai"].get(stream, {})
    present = [counts[name] for name in fields if name in counts]
    if present:
        source["openai"]["base"][total] = sum(present)


def _add_estimate(
    source: dict[str, Any],
    ctx: MappingContext,
    stream: str,
    start_time: int,
    result: Mapping[str, Any],
) -> None:
    """A list-price estimate, or `unpriced: true` when the table cannot price the result; never
    a $0 that would pass for free usage."""
    table = ctx.price_table
    if table is None:
        return
    usd = table.estimate_usd(stream, result, start_time)
    base = source["openai"]["base"]
    if usd is None:
        base["unpriced"] = True
    else:
        base["cost_estimate_usd"] = float(usd)
    base["price_table_version"] = table.version
