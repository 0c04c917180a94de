"""What the metric destinations count: five numbers of usage and costs documents, per bucket.

Every metric destination counts the same five numbers from the same fields, so a scraped
counter, a remote-written series and an OTLP sum agree with each other and with Elasticsearch.
A document contributes to the bucket `[start, end)` it describes; documents without a bucket
(audit events, rate-limit snapshots) contribute nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from poller.destinations._dimensions import field_value

if TYPE_CHECKING:  # the settings import this package: it must not load the mappers
    from poller.documents.model import Document

__all__ = ["USAGE_METRICS", "Bucket", "Contribution", "UsageMetric", "bucket_of", "contribution"]

# One value per metric of USAGE_METRICS, in its order.
Contribution = tuple[float, ...]


@dataclass(frozen=True)
class Bucket:
    """A document's time bucket, in Unix seconds."""

    start: int
    end: int


@dataclass(frozen=True)
class UsageMetric:
    """One counted number. `name` is the Prometheus name (a scraped counter adds `_total`),
    `otlp_name` and `unit` (UCUM) the OpenTelemetry ones."""

    key: str
    name: str
    otlp_name: str
    unit: str
    help: str
    integer: bool
    read: Callable[[Document], Any]


def _usd_cost(doc: Document) -> Any:
    amount = field_value(doc.source, "openai.costs.amount")
    if not isinstance(amount, dict) or str(amount.get("currency", "usd")).lower() != "usd":
        return None
    return amount.get("value")


USAGE_METRICS: Final = (
    UsageMetric(
        "input_tokens",
        "openai_usage_input_tokens",
        "openai.usage.input_tokens",
        "{token}",
        "Input tokens used (completions, embeddings, moderations), from the Usage API",
        True,
        lambda doc: field_value(doc.source, f"openai.{doc.stream}.input_tokens"),
    ),
    UsageMetric(
        "output_tokens",
        "openai_usage_output_tokens",
        "openai.usage.output_tokens",
        "{token}",
        "Output tokens generated (completions), from the Usage API",
        True,
        lambda doc: field_value(doc.source, f"openai.{doc.stream}.output_tokens"),
    ),
    UsageMetric(
        "requests",
        "openai_usage_requests",
        "openai.usage.requests",
        "{request}",
        "Model requests, from the Usage API",
        True,
        lambda doc: field_value(doc.source, "openai.base.num_model_requests"),
    ),
    UsageMetric(
        "cost_usd",
        "openai_cost_usd",
        "openai.cost",
        "USD",
        "Billed cost in USD, from the Costs API",
        False,
        _usd_cost,
    ),
    UsageMetric(
        "cost_estimate_usd",
        "openai_cost_estimate_usd",
        "openai.cost.estimate",
        "USD",
        "Cost estimated from usage at list prices, in USD",
        False,
        lambda doc: field_value(doc.source, "openai.base.cost_estimate_usd"),
    ),
)


def _epoch(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp())
    except ValueError:
        return None


def bucket_of(doc: Document) -> Bucket | None:
    """The bucket a usage or costs document describes; None for any other document."""
    start = _epoch(field_value(doc.source, "openai.base.start_time"))
    end = _epoch(field_value(doc.source, "openai.base.end_time"))
    if start is None or end is None or end <= start:
        return None
    return Bucket(start, end)


def _number(value: Any) -> float:
    """A countable amount: a finite, non-negative number (a counter cannot go down), else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def contribution(doc: Document) -> Contribution:
    """What `doc` adds to each metric of USAGE_METRICS."""
    return tuple(_number(metric.read(doc)) for metric in USAGE_METRICS)
