"""OTLP/HTTP: the exact ExportMetricsServiceRequest, decoded with opentelemetry-proto."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import pytest
from destination_support import Harness, golden, revised
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_DELTA

from poller import __version__
from poller.destinations import OtlpSettings
from poller.destinations.backends import OtlpDestination
from poller.errors import SinkRejectedError, SinkUnavailableError

URL = "http://collector:4318/v1/metrics"
HOUR = (1_767_254_400 * 10**9, 1_767_258_000 * 10**9)  # 2026-01-01T08:00-09:00 in nanoseconds
DAY = (1_767_225_600 * 10**9, 1_767_312_000 * 10**9)  # 2026-01-01


def destination(harness: Harness, **settings: object) -> OtlpDestination:
    return OtlpDestination(
        OtlpSettings.model_validate({"type": "otlp", "url": URL, **settings}), harness.context()
    )


def export(request: httpx.Request) -> ExportMetricsServiceRequest:
    body = request.content
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return ExportMetricsServiceRequest.FromString(body)


def points(request: httpx.Request) -> dict[str, list[tuple[Any, ...]]]:
    """metric name → (unit, attributes, start, end, value) of every data point."""
    (resource,) = export(request).resource_metrics
    (scope,) = resource.scope_metrics
    out: dict[str, list[tuple[Any, ...]]] = {}
    for metric in scope.metrics:
        assert metric.sum.aggregation_temporality == AGGREGATION_TEMPORALITY_DELTA
        assert metric.sum.is_monotonic
        out[metric.name] = [
            (
                metric.unit,
                tuple((a.key, a.value.string_value) for a in p.attributes),
                p.start_time_unix_nano,
                p.time_unix_nano,
                p.as_int if p.WhichOneof("value") == "as_int" else p.as_double,
            )
            for p in metric.sum.data_points
        ]
    return out


GPT = (("org", "acme"), ("project", "proj_alpha"), ("model", "gpt-4o"))


def test_one_delta_point_per_series_and_bucket_with_the_bucket_times() -> None:
    harness = Harness()
    destination(harness, resource_attributes={"deployment.environment": "prod"}).deliver(
        [golden("completions", 0), golden("costs", 0), golden("rate_limits", 0)]
    )
    usage, costs = harness.receiver.requests  # a request per stream; rate limits count nothing
    assert usage.headers["Content-Type"] == "application/x-protobuf"
    (resource,) = export(usage).resource_metrics
    assert {(a.key, a.value.string_value) for a in resource.resource.attributes} == {
        ("service.name", "openai-poller"),
        ("deployment.environment", "prod"),
        ("openai.organization.id", "org-acme"),
    }
    (scope,) = resource.scope_metrics
    assert (scope.scope.name, scope.scope.version) == ("openai-poller", __version__)
    assert points(usage) == {
        "openai.usage.input_tokens": [("{token}", GPT, *HOUR, 1200)],
        "openai.usage.output_tokens": [("{token}", GPT, *HOUR, 300)],
        "openai.usage.requests": [("{request}", GPT, *HOUR, 7)],
        "openai.cost.estimate": [("USD", GPT, *HOUR, 0.006)],
    }
    assert points(costs) == {
        "openai.cost": [("USD", (("org", "acme"), ("project", "proj_alpha")), *DAY, 12.5)],
    }


def test_a_revision_sends_the_difference_as_another_delta_of_the_bucket() -> None:
    harness = Harness()
    otlp = destination(harness, gzip=False)
    otlp.deliver([golden("completions", 0)])
    otlp.deliver([golden("completions", 0)])
    otlp.deliver([revised(golden("completions", 0), "openai.completions.output_tokens", 450)])
    first, second = harness.receiver.requests
    assert points(first)["openai.usage.output_tokens"] == [("{token}", GPT, *HOUR, 300)]
    assert "Content-Encoding" not in second.headers
    assert points(second) == {"openai.usage.output_tokens": [("{token}", GPT, *HOUR, 150)]}


def test_partially_rejected_points_are_counted_as_refused(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness()
    answer = ExportMetricsServiceResponse(
        partial_success=ExportMetricsPartialSuccess(
            rejected_data_points=2, error_message="too old"
        )
    )
    harness.receiver.answers = [httpx.Response(200, content=answer.SerializeToString())]
    destination(harness).deliver([golden("completions", 0)])
    assert harness.sample(
        "openai_poller_destination_dropped_total", org="acme", destination="otlp", reason="refused"
    ) == 2.0
    assert "2 data points: too old" in caplog.text


def test_a_400_refuses_the_points_for_good_and_a_401_the_request() -> None:
    harness = Harness()
    harness.receiver.answers = [httpx.Response(400, text="bad data"), httpx.Response(401)]
    otlp = destination(harness)
    otlp.deliver([golden("completions", 0)])
    assert harness.sample(
        "openai_poller_destination_dropped_total", org="acme", destination="otlp", reason="refused"
    ) == 1.0
    with pytest.raises(SinkRejectedError, match="credentials"):
        otlp.deliver([golden("embeddings", 0)])


def test_the_probe_posts_an_empty_export() -> None:
    harness = Harness()
    harness.receiver.default = httpx.Response(200)
    assert destination(harness).probe()
    (request,) = harness.receiver.requests
    assert export(request) == ExportMetricsServiceRequest()


def test_a_request_whose_answer_was_lost_goes_again_as_it_was_at_least_once() -> None:
    """The receiver may have taken it: a delta receiver then counts it twice (docs: at least
    once). What changed meanwhile goes after it as a further delta, never folded into it."""
    harness = Harness()

    def lost(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    harness.receiver.answers = [lost]
    otlp = destination(harness, retry={"attempts": 1})
    with pytest.raises(SinkUnavailableError):
        otlp.deliver([golden("completions", 0)])
    otlp.deliver([revised(golden("completions", 0), "openai.completions.input_tokens", 1250)])
    first, again, revision = harness.receiver.requests
    assert again.content == first.content
    assert points(revision) == {"openai.usage.input_tokens": [("{token}", GPT, *HOUR, 50)]}
