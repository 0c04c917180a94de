"""The daemon's jobs: each cycle lands in the metrics, and readiness waits for every stream."""

from __future__ import annotations

import threading

from fake_api import FakeClient, access, audit_page
from fakes import FakeClock, RecordingSink
from streams_config import T0, config

from poller.daemon import _FirstCycles, _StreamJob
from poller.errors import SinkUnavailableError
from poller.health import ReadinessGate
from poller.metrics import Metrics

PREFIX = "openai_poller"


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"{PREFIX}_{name}", labels)


def test_a_failed_and_a_successful_first_cycle_open_the_gate_and_fill_the_metrics() -> None:
    metrics, clock = Metrics(), FakeClock(T0 + 3725.0)
    sink = RecordingSink(write_errors=[SinkUnavailableError("Elasticsearch at x is unreachable")])
    gate = ReadinessGate(lambda: True)
    first = _FirstCycles({("acme", "audit"), ("acme", "rate_limits")}, gate)
    fake = access(FakeClient(audit=[[audit_page(("a", T0 + 10))]]))
    stop = threading.Event()

    def job(stream: str) -> _StreamJob:
        return _StreamJob(fake, config(stream, interval=3600), sink, metrics, stop,
                          first.done("acme", stream), clock)

    job("audit")()
    assert _value(metrics, "errors_total", org="acme", stream="audit") == 1.0
    assert _value(metrics, "last_error_timestamp_seconds", org="acme", stream="audit") == clock.now
    assert gate() == "the first collection cycle has not finished"

    job("rate_limits")()
    assert gate() is None
    stream = {"org": "acme", "stream": "rate_limits"}
    assert _value(metrics, "last_success_timestamp_seconds", **stream) == clock.now
    assert _value(metrics, "cursor_lag_seconds", **stream) == 125.0  # now - the slot's start
    assert _value(metrics, "cycle_duration_seconds_count", **stream) == 1.0
    assert _value(metrics, "errors_total", **stream) is None
