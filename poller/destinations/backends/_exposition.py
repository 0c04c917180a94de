"""The metrics about destinations, and the usage counters scraped from the daemon's `/metrics`.

`DestinationMetrics` goes on the daemon's registry once (`poller.metrics.Metrics.registry`):
it adds the poller's own counters about its destinations and one `UsageCollector`, which
serves the counters of every org's Prometheus destination as one family per metric (a label
set two orgs share, when `org` is not a dimension, is their sum).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric

from poller.destinations._dimensions import Labels
from poller.destinations._metrics import USAGE_METRICS
from poller.destinations._tally import Tally

__all__ = ["DestinationMetrics", "Exposed", "Reporter", "UsageCollector"]

log = logging.getLogger(__name__)

_PREFIX = "openai_poller"


class Exposed(Protocol):
    def exposed(self) -> Iterable[tuple[Labels, Sequence[float | None]]]:
        """Each series' value per metric as a scrape shows it now; None: not shown."""
        ...


class UsageCollector:
    """A prometheus_client collector over the Prometheus destinations attached to it."""

    def __init__(self) -> None:
        self._sources: list[Exposed] = []

    def attach(self, source: Exposed) -> None:
        self._sources.append(source)

    def describe(self) -> Iterator[Metric]:
        for metric in USAGE_METRICS:
            yield Metric(metric.name, metric.help, "counter")

    def collect(self) -> Iterator[Metric]:
        merged: dict[Labels, list[float | None]] = {}
        for source in self._sources:
            for labels, values in source.exposed():
                into = merged.setdefault(labels, [None] * len(USAGE_METRICS))
                for index, value in enumerate(values):
                    if value is not None:
                        into[index] = (into[index] or 0.0) + value
        for index, metric in enumerate(USAGE_METRICS):
            family = Metric(metric.name, metric.help, "counter")
            for labels, values in merged.items():
                value = values[index]
                if value is not None:
                    family.add_sample(f"{metric.name}_total", dict(labels), value)
            yield family


class DestinationMetrics:
    """The poller's counters about its destinations, and the scraped usage counters."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Without `registry`, one of its own: a `backfill`, which nobody scrapes."""
        registry = registry if registry is not None else CollectorRegistry()
        self.usage = UsageCollector()
        registry.register(self.usage)
        self.series_dropped = Counter(
            f"{_PREFIX}_series_dropped",
            "Documents not counted because their new series would pass the destination's "
            "cardinality limit (max_series)",
            ("org", "destination"),
            registry=registry,
        )
        self.dropped = Counter(
            f"{_PREFIX}_destination_dropped",
            "Documents a destination took without passing them on, by reason: refused (the "
            "receiver refused them for good; OTLP counts data points), lowered (a re-read "
            "lower than counted: the decrease is not subtracted), pruned (re-read after the "
            "settlement window: already taken)",
            ("org", "destination", "reason"),
            registry=registry,
        )
        self.deliveries = Counter(
            f"{_PREFIX}_destination_deliveries",
            "Batches delivered to a destination, by result (acknowledged, failed)",
            ("org", "destination", "result"),
            registry=registry,
        )
        self.up = Gauge(
            f"{_PREFIX}_destination_up",
            "1 when the destination acknowledged the last request it was sent, 0 when it did "
            "not (its streams' cursors are held until it does); absent before the first",
            ("org", "destination"),
            registry=registry,
        )
        # (org, destination) whose last request was not acknowledged; streams deliver from
        # several threads
        self._down: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def unready(self) -> str | None:
        """Why the daemon is not ready for its destinations: the first one (by org and name)
        that did not acknowledge the last request it was sent, which holds the cursors of the
        streams it takes until it acknowledges one; None while there is none."""
        with self._lock:
            down = min(self._down, default=None)
        if down is None:
            return None
        return f"org {down[0]}: destination {down[1]} did not acknowledge its last delivery"

    def mark(self, org: str, destination: str, *, up: bool) -> None:
        self.up.labels(org, destination).set(1 if up else 0)
        with self._lock:
            if up:
                self._down.discard((org, destination))
            else:
                self._down.add((org, destination))

    def reporter(self, org: str, destination: str, *, counting: bool) -> Reporter:
        """The recording methods of one destination; its series start at zero (those of the
        cardinality limit and of lowered re-reads only for a `counting` one)."""
        if counting:
            self.series_dropped.labels(org, destination)
            self.dropped.labels(org, destination, "lowered")
        for reason in ("refused", "pruned"):
            self.dropped.labels(org, destination, reason)
        for result in ("acknowledged", "failed"):
            self.deliveries.labels(org, destination, result)
        return Reporter(self, org, destination)


@dataclass(frozen=True)
class Reporter:
    metrics: DestinationMetrics
    org: str
    destination: str

    def tallied(self, tally: Tally) -> None:
        m, org, name = self.metrics, self.org, self.destination
        m.dropped.labels(org, name, "lowered").inc(tally.lowered)
        self.pruned(tally.pruned)
        if tally.series_dropped:
            m.series_dropped.labels(org, name).inc(tally.series_dropped)
            log.warning(
                "destination %s/%s: %d documents not counted: their series would pass the "
                "cardinality limit (max_series)", org, name, tally.series_dropped,
            )

    def pruned(self, count: int) -> None:
        """`count` documents delivered again after they were pruned: not taken again."""
        self.metrics.dropped.labels(self.org, self.destination, "pruned").inc(count)

    def refused(self, count: int, reason: str) -> None:
        """`count` documents the receiver refused for good; `reason` is its own word."""
        self.metrics.dropped.labels(self.org, self.destination, "refused").inc(count)
        log.warning("destination %s/%s refused %d documents for good: %s",
                    self.org, self.destination, count, reason)

    def delivered(self, ok: bool, *, contacted: bool = True) -> None:
        """A delivery's outcome. One that had nothing to send (`contacted` False: every
        document a repeat) says nothing about the receiver, so it leaves `up` as it was."""
        result = "acknowledged" if ok else "failed"
        self.metrics.deliveries.labels(self.org, self.destination, result).inc()
        if contacted or not ok:
            self.metrics.mark(self.org, self.destination, up=ok)
