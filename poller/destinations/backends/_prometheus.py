"""Usage and cost counters for Prometheus to scrape from the daemon's `/metrics`.

The counters count what was collected, when it was collected: a document adds its numbers once,
and a revision adds only what grew (`tally`). Their values are saved with the primary sink's
state before a delivery counts as done, and shown from the saved state, so a restart neither
double-counts (the counters come back at their saved values, not at zero, which Prometheus
would read as a reset and count again) nor loses anything.

`increase()` only counts what a series gained after its first sample, so a series (or a metric
of it) that is new is shown at 0 for `new_series_hold` before its value: a scrape in between
lets `increase()` count the first value too.
"""

from __future__ import annotations

from collections.abc import Sequence

from poller.destinations._dimensions import Labeler, Labels
from poller.destinations._settings import PrometheusSettings, name_of
from poller.destinations._tally import SeriesLimit, tally
from poller.destinations.backends._context import (
    Counting,
    DestinationContext,
    PerStream,
    by_stream,
    counting_codec,
)
from poller.documents.model import Document
from poller.errors import PollerError

__all__ = ["PrometheusDestination"]


class PrometheusDestination:
    def __init__(self, settings: PrometheusSettings, context: DestinationContext) -> None:
        self.name = name_of(settings)
        self._context = context
        self._labeler = Labeler(context.org, settings.dimensions)
        self._hold = settings.new_series_hold.total_seconds()
        self._states: PerStream[Counting] = PerStream(
            context, self.name, counting_codec(SeriesLimit(settings.max_series))
        )
        self._report = context.reporter(self.name, counting=True)
        context.metrics.usage.attach(self)

    def deliver(self, documents: Sequence[Document]) -> None:
        try:
            for stream, taken in by_stream(documents):
                self._deliver(stream, taken)
        except PollerError:
            self._report.delivered(False)
            raise
        self._report.delivered(True)

    def _deliver(self, stream: str, documents: Sequence[Document]) -> None:
        saved, lock = self._states[stream]
        with lock:
            now = self._context.clock()
            state = saved.load().working_copy(now, self._context.retention)
            counted = tally(
                documents, state.ledger, state.book, self._labeler, now=now, hold=self._hold
            )
            saved.save(state)
        self._report.tallied(counted)

    def exposed(self) -> list[tuple[Labels, Sequence[float | None]]]:
        """The saved totals as a scrape shows them now (each stream's series; the collector
        sums a label set two streams share). Read without the streams' locks: a saved state
        is never changed, only replaced, so a scrape never waits for a slow save."""
        now = self._context.clock()
        return [
            (series.labels, [
                None if start is None else (total if now >= start else 0.0)
                for start, total in zip(series.shown_from, series.totals, strict=True)
            ])
            for state in self._states.loaded()
            for series in state.book
        ]

    def probe(self) -> bool:
        """Always ready: Prometheus comes to the daemon."""
        return True

    def close(self) -> None:
        """Nothing to release: the counters go with the registry."""
