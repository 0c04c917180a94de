"""The daemon's jobs: every cycle lands in the metrics and the health, every failure is counted
and logged as one short line, and readiness says why the poller cannot do its job."""

from __future__ import annotations

import logging
import threading

import pytest
from fake_api import FakeClient, access, audit_page
from fakes import FakeClock, RecordingSink
from streams_config import T0, config

from poller.daemon import _JobContext, _StreamJob
from poller.errors import (
    AuthenticationError,
    SinkRejectedError,
    SinkUnavailableError,
    StateError,
)
from poller.health import CycleHealth
from poller.logs import FailureLog
from poller.metrics import Metrics

PREFIX = "openai_poller"
STREAMS = {("acme", "audit"), ("acme", "rate_limits")}


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"{PREFIX}_{name}", labels)


class _Daemon:
    """Two streams of org acme over one sink, one fake API, and a fake clock."""

    def __init__(self, client: FakeClient | None = None) -> None:
        self.metrics, self.clock = Metrics(), FakeClock(T0 + 3725.0)
        self.sink = RecordingSink()
        self.health = CycleHealth(STREAMS, stale_after=600, clock=self.clock)
        self.failures = FailureLog(every=600, clock=self.clock)
        self.access = access(client if client is not None else FakeClient())
        self.ctx = _JobContext(
            self.sink, self.metrics, threading.Event(), self.health, self.failures, self.clock
        )

    def run(self, stream: str) -> None:
        _StreamJob(self.access, config(stream, interval=3600), self.ctx)()

    def errors(self, stream: str) -> float | None:
        return _value(self.metrics, "errors_total", org="acme", stream=stream)


def _auth_error() -> AuthenticationError:
    return AuthenticationError(
        "GET http://127.0.0.1:1/v1/organization/audit_logs: OpenAI refused the key (HTTP 401)",
        method="GET", url="http://127.0.0.1:1/v1/organization/audit_logs", status=401,
    )


def test_a_failed_and_a_successful_first_cycle_fill_the_metrics_and_the_health() -> None:
    daemon = _Daemon(FakeClient(audit=[[audit_page(("a", T0 + 10))]]))
    daemon.sink.write_errors = [SinkUnavailableError("Elasticsearch at x is unreachable")]

    daemon.run("audit")
    assert daemon.errors("audit") == 1.0
    last_error = _value(daemon.metrics, "last_error_timestamp_seconds", org="acme", stream="audit")
    assert last_error == daemon.clock.now
    assert daemon.health.readiness() == "the first collection cycle has not finished"

    daemon.run("rate_limits")
    assert daemon.health.readiness() is None
    stream = {"org": "acme", "stream": "rate_limits"}
    assert _value(daemon.metrics, "last_success_timestamp_seconds", **stream) == daemon.clock.now
    assert _value(daemon.metrics, "cursor_lag_seconds", **stream) == 125.0  # now - slot start
    assert _value(daemon.metrics, "cycle_duration_seconds_count", **stream) == 1.0
    assert daemon.errors("rate_limits") is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (_auth_error(), "org acme: OpenAI refused the admin key"),
        (StateError("acme/audit: cursor past now"),
         "stream acme/audit: its saved state is unreadable"),
        (SinkRejectedError("Elasticsearch refused http://es:9200 with ApiKey abc"),
         "stream acme/audit: the sink refuses its writes"),
    ],
)
def test_readiness_names_what_must_be_fixed_until_the_stream_recovers(
    error: Exception, reason: str
) -> None:
    daemon = _Daemon()
    daemon.run("rate_limits")
    daemon.sink.load_error = error
    daemon.run("audit")
    assert daemon.health.readiness() == reason
    assert daemon.errors("audit") == 1.0

    daemon.sink.load_error = None
    daemon.run("audit")
    assert daemon.health.readiness() is None


def test_every_stream_of_an_org_failing_is_not_ready() -> None:
    daemon = _Daemon()
    daemon.sink.load_error = SinkUnavailableError("Elasticsearch at x is unreachable")
    daemon.run("audit")
    daemon.run("rate_limits")
    assert daemon.health.readiness() == "org acme: every stream is failing"
    daemon.sink.load_error = None
    daemon.run("rate_limits")
    assert daemon.health.readiness() is None


def test_an_exception_outside_the_poller_errors_is_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    daemon = _Daemon()
    daemon.sink.load_error = RuntimeError("a bug in a sink")
    with caplog.at_level(logging.INFO, logger="poller"):
        daemon.run("audit")
        daemon.run("audit")
    assert daemon.errors("audit") == 2.0
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "cycle acme/audit failed: report a bug: an unexpected error (RuntimeError)"),
    ]


def test_corrupt_state_is_a_counted_stream_failure_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    daemon = _Daemon()
    daemon.sink.states["acme/audit"] = {"coverage": "garbage"}
    with caplog.at_level(logging.INFO, logger="poller.daemon"):
        daemon.run("audit")
        daemon.run("audit")
    assert daemon.errors("audit") == 2.0
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "cycle acme/audit failed: repair the stream's saved state: run "
                  "`openai-poller state rebuild` (StateError)"),
    ]


def test_a_refused_key_logs_one_short_line_then_a_summary_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    daemon = _Daemon()
    daemon.sink.load_error = _auth_error()
    with caplog.at_level(logging.INFO, logger="poller.daemon"):
        for _ in range(5):  # every 5 minutes: at 0, 5, 10, 15 and 20 minutes
            daemon.run("audit")
            daemon.clock.advance(300)
        daemon.sink.load_error = None
        daemon.run("audit")
    line = "cycle acme/audit failed: check the org's admin key: OpenAI refused it " \
        "(AuthenticationError, HTTP 401)"
    messages = [r.getMessage() for r in caplog.records if r.name == "poller.daemon"]
    assert messages == [
        line,
        f"{line}; 2 more times in 10 min",  # at 10 minutes
        f"{line}; 2 more times in 10 min",  # at 20 minutes
        "cycle acme/audit succeeded after 5 failed cycles",
    ]
    assert all(len(m) <= 200 for m in messages)
    assert daemon.errors("audit") == 5.0


def test_liveness_turns_stale_when_no_cycle_runs() -> None:
    daemon = _Daemon()
    assert daemon.health.liveness() is None
    daemon.clock.advance(601)
    assert daemon.health.liveness() == "no collection cycle has run for 601 s"
    daemon.run("audit")
    assert daemon.health.liveness() is None
