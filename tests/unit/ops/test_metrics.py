"""Self-metrics: an isolated registry, typed recording methods, and safe labels only."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from poller.client.observer import ClientObserver
from poller.metrics import Metrics
from poller.sinks import DeadLetter, WriteReport

SAFE_LABELS = {"org", "stream", "endpoint", "status", "reason", "result", "version", "le"}


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"openai_poller_{name}", labels)


def test_registries_are_isolated_from_each_other_and_the_global_one() -> None:
    first, second = Metrics(), Metrics()
    first.on_response("/organization/costs", 200)
    assert _value(first, "requests_total", endpoint="/organization/costs", status="200") == 1
    assert _value(second, "requests_total", endpoint="/organization/costs", status="200") is None
    assert b"openai_poller" not in generate_latest(REGISTRY)


def test_metrics_is_the_clients_observer() -> None:
    observer: ClientObserver = Metrics()
    observer.on_response("/organization/usage/completions", 429)
    observer.on_retry("/organization/usage/completions", "429", 2.5)
    assert isinstance(observer, Metrics)
    endpoint = "/organization/usage/completions"
    assert _value(observer, "requests_total", endpoint=endpoint, status="429") == 1
    assert _value(observer, "rate_limited_total", endpoint=endpoint) == 1
    assert _value(observer, "retries_total", endpoint=endpoint, reason="429") == 1
    assert _value(observer, "retry_wait_seconds_total", endpoint=endpoint) == 2.5


def test_writes_count_documents_by_result() -> None:
    metrics = Metrics()
    letter = DeadLetter("id1", "logs-openai.costs-default", 400, "mapper_parsing_exception")
    metrics.on_write("acme", "costs", WriteReport(created=3, updated=2, unchanged=1))
    metrics.on_write("acme", "costs", WriteReport(created=1, dead_lettered=(letter,)))
    counts = {
        result: _value(metrics, "documents_total", org="acme", stream="costs", result=result)
        for result in ("created", "revised", "unchanged", "dead_lettered")
    }
    assert counts == {"created": 4, "revised": 2, "unchanged": 1, "dead_lettered": 1}


def test_declare_creates_zero_series_for_alerts() -> None:
    metrics = Metrics()
    metrics.declare("acme", "audit", 300)
    assert _value(metrics, "interval_seconds", org="acme", stream="audit") == 300
    assert _value(metrics, "errors_total", org="acme", stream="audit") == 0
    assert (
        _value(metrics, "documents_total", org="acme", stream="audit", result="dead_lettered") == 0
    )


def test_stream_state_gauges() -> None:
    metrics = Metrics()
    metrics.set_lag("acme", "audit", 42.0)
    metrics.mark_success("acme", "audit", at=1_700_000_000.0)
    metrics.mark_error("acme", "audit", at=1_700_000_100.0)
    metrics.mark_error("acme", "audit")
    metrics.observe_cycle("acme", "audit", 1.7)
    labels = {"org": "acme", "stream": "audit"}
    assert _value(metrics, "cursor_lag_seconds", **labels) == 42
    assert _value(metrics, "last_success_timestamp_seconds", **labels) == 1_700_000_000
    last_error = _value(metrics, "last_error_timestamp_seconds", **labels)
    assert last_error is not None and last_error > 1_700_000_100
    assert _value(metrics, "errors_total", **labels) == 2
    assert _value(metrics, "cycle_duration_seconds_count", **labels) == 1
    assert _value(metrics, "cycle_duration_seconds_bucket", le="2.5", **labels) == 1


def test_only_safe_labels_exist() -> None:
    metrics = Metrics()
    metrics.declare("acme", "costs", 3600)
    metrics.on_response("/organization/costs", 200)
    metrics.on_retry("/organization/costs", "timeout", 1.0)
    metrics.observe_cycle("acme", "costs", 1.0)
    for family in metrics.registry.collect():
        assert family.name.startswith("openai_poller_")
        for sample in family.samples:
            assert set(sample.labels) <= SAFE_LABELS, sample
