"""The poller's own Prometheus metrics, in a registry of their own.

A dedicated `CollectorRegistry` (not prometheus_client's global one) keeps tests isolated and
/metrics free of anything we did not put there. Labels are org names, stream names, endpoint
names, HTTP statuses and retry reasons: never URLs with ids, never secrets.

`Metrics` is also the HTTP client's observer (`on_response`, `on_retry`).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from poller import __version__
from poller.sinks import WriteReport

__all__ = ["CYCLE_BUCKETS", "PREFIX", "Metrics"]

PREFIX = "openai_poller"
# Seconds: a quiet 5-minute cycle takes a second or two; a first run or a catch-up, minutes.
CYCLE_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
_STREAM = ("org", "stream")


class Metrics:
    """Typed recording methods over one registry, so callers never touch label order."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = _STREAM) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

        gauge("build_info", "Version of the running poller (always 1)", ("version",)).labels(
            __version__
        ).set(1)
        self._requests = counter(
            "requests", "Responses from the OpenAI API", ("endpoint", "status")
        )
        self._rate_limited = counter(
            "rate_limited", "HTTP 429 responses from the OpenAI API", ("endpoint",)
        )
        self._retries = counter("retries", "Requests retried", ("endpoint", "reason"))
        self._retry_wait = counter(
            "retry_wait_seconds", "Time spent waiting before retries", ("endpoint",)
        )
        self._documents = counter(
            "documents",
            "Documents acknowledged by the sink, by result "
            "(created, revised, unchanged, dead_lettered)",
            (*_STREAM, "result"),
        )
        self._errors = counter("errors", "Collection cycles that failed", _STREAM)
        self._lag = gauge("cursor_lag_seconds", "Now minus the end of the newest window collected")
        self._interval = gauge("interval_seconds", "Configured polling interval")
        self._last_success = gauge(
            "last_success_timestamp_seconds", "Unix time of the last successful cycle"
        )
        self._last_error = gauge(
            "last_error_timestamp_seconds", "Unix time of the last failed cycle"
        )
        self._leases = gauge(
            "leases_held", "1 while this replica holds the org's lease and collects it", ("org",)
        )
        self._cycle = Histogram(
            f"{PREFIX}_cycle_duration_seconds",
            "Duration of one collection cycle",
            _STREAM,
            buckets=CYCLE_BUCKETS,
            registry=self.registry,
        )

    # The HTTP client's observer.

    def on_response(self, endpoint: str, status: int) -> None:
        """One HTTP response from OpenAI; `endpoint` is a stable name, not a URL."""
        self._requests.labels(endpoint, str(status)).inc()
        if status == 429:
            self._rate_limited.labels(endpoint).inc()

    def on_retry(self, endpoint: str, reason: str, wait: float) -> None:
        """A request about to be retried after `wait` seconds; `reason` e.g. "429", "timeout"."""
        self._retries.labels(endpoint, reason).inc()
        self._retry_wait.labels(endpoint).inc(max(wait, 0.0))

    # Per org and stream.

    def declare(self, org: str, stream: str, interval: float) -> None:
        """Create a stream's series at zero, so alerts see the first error as an increase."""
        self._interval.labels(org, stream).set(interval)
        self._errors.labels(org, stream)
        for result in ("created", "revised", "unchanged", "dead_lettered"):
            self._documents.labels(org, stream, result)

    def on_write(self, org: str, stream: str, report: WriteReport) -> None:
        documents = self._documents
        documents.labels(org, stream, "created").inc(report.created)
        documents.labels(org, stream, "revised").inc(report.updated)
        documents.labels(org, stream, "unchanged").inc(report.unchanged)
        documents.labels(org, stream, "dead_lettered").inc(len(report.dead_lettered))

    def set_lag(self, org: str, stream: str, seconds: float) -> None:
        self._lag.labels(org, stream).set(seconds)

    def mark_success(self, org: str, stream: str, at: float | None = None) -> None:
        self._last_success.labels(org, stream).set(time.time() if at is None else at)

    def mark_error(self, org: str, stream: str, at: float | None = None) -> None:
        self._errors.labels(org, stream).inc()
        self._last_error.labels(org, stream).set(time.time() if at is None else at)

    def observe_cycle(self, org: str, stream: str, seconds: float) -> None:
        self._cycle.labels(org, stream).observe(seconds)

    def set_lease_held(self, org: str, held: bool) -> None:
        self._leases.labels(org).set(1 if held else 0)
