"""OTLP/HTTP metrics (protobuf): each bucket's increments as delta sums.

One `Sum` per metric (delta temporality, monotonic), one data point per series and bucket with
the bucket's start and end as its times, attributes from the configured dimensions; the
resource says `service.name` and `openai.organization.id`. A revision sends a further delta
point for the same bucket: a receiver adds deltas, so the bucket's sum stays exact. Deltas are
not idempotent: a request the receiver took but whose answer was lost (or a crash before its
acknowledgment was saved) is sent again as it was and counted twice; everything else is
counted exactly once.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from typing import Final

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_DELTA,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from poller import __version__
from poller.destinations._dimensions import field_value
from poller.destinations._metrics import USAGE_METRICS, UsageMetric
from poller.destinations._settings import OtlpSettings, name_of
from poller.destinations._tally import Delta, Tally
from poller.destinations.backends._context import Counting, DestinationContext
from poller.destinations.backends._http import courier
from poller.destinations.backends._pushing import PushLoop
from poller.documents.model import Document

__all__ = ["OtlpDestination", "export_request"]

SCOPE: Final = InstrumentationScope(name="openai-poller", version=__version__)
_NANOS: Final = 1_000_000_000


def _attributes(pairs: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[KeyValue]:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in items]


def _point(delta: Delta) -> NumberDataPoint:
    point = NumberDataPoint(
        attributes=_attributes(delta.labels),
        start_time_unix_nano=delta.bucket.start * _NANOS,
        time_unix_nano=delta.bucket.end * _NANOS,
    )
    if delta.metric.integer:
        point.as_int = round(delta.value)
    else:
        point.as_double = delta.value
    return point


def export_request(deltas: Sequence[Delta], resource: Mapping[str, str]) -> bytes:
    """The serialized `ExportMetricsServiceRequest` of `deltas`, one resource."""
    by_metric: dict[UsageMetric, list[NumberDataPoint]] = {}
    for delta in deltas:
        by_metric.setdefault(delta.metric, []).append(_point(delta))
    metrics = [
        Metric(
            name=m.otlp_name,
            description=m.help,
            unit=m.unit,
            sum=Sum(
                aggregation_temporality=AGGREGATION_TEMPORALITY_DELTA,
                is_monotonic=True,
                data_points=by_metric[m],
            ),
        )
        for m in USAGE_METRICS
        if m in by_metric
    ]
    request = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        resource=Resource(attributes=_attributes(resource)),
        scope_metrics=[ScopeMetrics(scope=SCOPE, metrics=metrics)],
    )])
    return request.SerializeToString()


class OtlpDestination:
    def __init__(self, settings: OtlpSettings, context: DestinationContext) -> None:
        self.name = name_of(settings)
        self._url = settings.url
        self._gzip = settings.gzip
        self._resource = {"service.name": settings.service_name, **settings.resource_attributes}
        headers = {"Content-Type": "application/x-protobuf"}
        if settings.gzip:
            headers["Content-Encoding"] = "gzip"
        self._courier = courier(settings, f"OTLP {self.name}", context, headers)
        self._loop = PushLoop(context, self.name, settings)
        self._organization: str | None = None

    def deliver(self, documents: Sequence[Document]) -> None:
        for doc in documents:
            found = field_value(doc.source, "organization.id")
            if isinstance(found, str):
                self._organization = found
                break
        self._loop.deliver(documents, self)

    def _body(self, data: bytes) -> bytes:
        return gzip.compress(data, mtime=0) if self._gzip else data

    def prepare(self, stream: str, counted: Tally, state: Counting) -> bytes:
        del stream, state  # every point carries its own interval; nothing more to keep
        resource = dict(self._resource)
        if self._organization is not None:
            resource["openai.organization.id"] = self._organization
        return self._body(export_request(counted.deltas, resource))

    def post(self, body: bytes, documents: int) -> tuple[int, str]:
        response = self._courier.post(self._url, body, {})
        if not response.is_success:
            return documents, f"HTTP {response.status_code}: {response.text[:200]}"
        try:
            answer = ExportMetricsServiceResponse.FromString(response.content)
        except DecodeError:
            return 0, ""  # a 2xx took the request; its body is only advice
        rejected = answer.partial_success.rejected_data_points
        return rejected, f"{rejected} data points: {answer.partial_success.error_message}"

    def probe(self) -> bool:
        """An empty export request: receivers accept one."""
        return self._courier.answers(
            self._url, "POST", self._body(ExportMetricsServiceRequest().SerializeToString())
        )

    def close(self) -> None:
        self._courier.close()
